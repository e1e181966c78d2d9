"""A café's media state in one process: its slots, publishers and subscribers.

A `Room` holds one video slot (the expert's camera) and ``1 + stage_max`` audio slots (the
expert and the parents on stage), built once with the codecs aiortc offers; the
`MediaRouter` changes it only under ``room.lock``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from aiortc import RTCPeerConnection, RTCRtpTransceiver
from aiortc.codecs import CODECS, HEADER_EXTENSIONS
from aiortc.rtcrtpparameters import RTCRtpSendParameters

from .fanout import Slot
from .stats import MediaStats
from .taps import AudioTapCallback, VideoTapCallback

__all__ = ["REPORT_INTERVAL", "Publisher", "Room", "Subscriber", "codec_of", "report_loop"]

REPORT_INTERVAL = 1.0


def codec_of(kind: str, mime: str) -> tuple[int, int]:
    """The payload type and clock rate aiortc uses for ``mime``."""
    for codec in CODECS[kind]:
        if codec.mimeType.lower() == mime and codec.payloadType is not None:
            return codec.payloadType, codec.clockRate
    raise RuntimeError(f"aiortc has no {mime} codec")  # pragma: no cover


@dataclass(eq=False)
class Publisher:
    """One participant's received connection and the slots its tracks feed."""

    participant_id: int
    speaker: str
    pc: RTCPeerConnection
    audio_slot: Slot | None = None
    video_slot: Slot | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


@dataclass(eq=False)
class Subscriber:
    """One participant's offered connection: a transceiver per slot, in slot order."""

    participant_id: int
    pc: RTCPeerConnection
    transceivers: list[RTCRtpTransceiver]
    answered: bool = False


class Room:
    """The media of one café in this process."""

    def __init__(self, cafe_id: int, audio_slots: int, stats: MediaStats) -> None:
        self.cafe_id = cafe_id
        vp8_pt, vp8_clock = codec_of("video", "video/vp8")
        opus_pt, opus_clock = codec_of("audio", "audio/opus")
        self.video = Slot(
            "video",
            index=0,
            mid="0",
            payload_type=vp8_pt,
            clock_rate=vp8_clock,
            send_parameters=RTCRtpSendParameters(headerExtensions=HEADER_EXTENSIONS["video"]),
            stats=stats,
        )
        self.audio = [
            Slot(
                "audio",
                index=i,
                mid=str(1 + i),
                payload_type=opus_pt,
                clock_rate=opus_clock,
                send_parameters=RTCRtpSendParameters(
                    headerExtensions=HEADER_EXTENSIONS["audio"]
                ),
                stats=stats,
            )
            for i in range(audio_slots)
        ]
        self.slots = [self.video, *self.audio]
        self.publishers: dict[int, Publisher] = {}
        self.subscribers: dict[int, Subscriber] = {}
        self.muted: set[int] = set()
        self.taps: list[AudioTapCallback] = []
        self.video_taps: list[VideoTapCallback] = []
        self.lock = asyncio.Lock()
        self.reporter: asyncio.Task[None] | None = None


async def report_loop(room: Room) -> None:
    """Feed RTCP sender reports of every subscriber with the shared streams' figures."""
    while True:
        await asyncio.sleep(REPORT_INTERVAL)
        for slot in room.slots:
            for output in slot.outputs.values():
                output.update_sender_report()
