"""The forwarding loops: a publisher's decoded frames to its slot's subscribers and taps.

One pump per received track. Video: decoded frames -> a bounded `FrameBacklog` -> one VP8
encode (in the router's executor) -> `Slot.forward`. Audio: decoded frames -> the café's
audio taps (unless the speaker is muted) -> one Opus encode -> `Slot.forward`. Each runs
until the track ends (`MediaStreamError`) or its task is cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from concurrent.futures import Executor

from aiortc.codecs.opus import OpusEncoder
from aiortc.codecs.vpx import Vp8Encoder, VpxPayloadDescriptor
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import AudioFrame, VideoFrame

from .backlog import FrameBacklog
from .fanout import Slot
from .room import Publisher, Room
from .stats import MediaStats
from .taps import AudioChunk, VideoChunk

logger = logging.getLogger("causerie.media")

__all__ = ["encode_video", "is_vp8_keyframe", "pump_audio", "pump_video"]


def is_vp8_keyframe(payloads: list[bytes]) -> bool:
    """Whether the first VP8 payload of a frame starts a keyframe."""
    descriptor, data = VpxPayloadDescriptor.parse(payloads[0])
    return bool(descriptor.partition_start) and bool(data) and not data[0] & 1


def encode_video(
    encoder: Vp8Encoder, frame: VideoFrame, force_keyframe: bool
) -> tuple[list[bytes], int]:
    """One VP8 encode, in the executor (a seam for tests that slow the encoder down)."""
    return encoder.encode(frame, force_keyframe)


async def pump_video(
    room: Room,
    publisher: Publisher,
    track: MediaStreamTrack,
    slot: Slot,
    *,
    stats: MediaStats,
    executor: Executor,
    bitrate: int,
    backlog_size: int,
) -> None:
    """Decoded frames -> the video taps, and a bounded backlog -> one VP8 encode -> the slot's
    subscribers.

    Receiving runs in its own task, so frames that arrive while the encoder works wait
    in a `FrameBacklog` of ``backlog_size`` frames (older ones are dropped) and never
    pile up in aiortc's unbounded track queue.
    """
    loop = asyncio.get_running_loop()
    encoder = Vp8Encoder()
    encoder.target_bitrate = bitrate
    pid = publisher.participant_id
    backlog: FrameBacklog[VideoFrame] = FrameBacklog(backlog_size, stats)

    async def receive() -> None:
        try:
            while True:
                frame = await track.recv()
                if not isinstance(frame, VideoFrame):
                    continue
                stats.video_frames_received += 1
                if room.video_taps:
                    tap_video(room, VideoChunk(room.cafe_id, pid, time.monotonic(), frame))
                if slot.outputs:
                    backlog.put(frame)
        except MediaStreamError:
            pass
        finally:
            backlog.end()

    receiver = asyncio.create_task(receive())
    try:
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await backlog.get()
                if not slot.outputs:
                    continue
                force = slot.take_keyframe_request()
                payloads, timestamp = await loop.run_in_executor(
                    executor, encode_video, encoder, frame, force
                )
                if payloads:
                    slot.forward(payloads, pid, timestamp, keyframe=is_vp8_keyframe(payloads))
    finally:
        receiver.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await receiver


def tap_video(room: Room, chunk: VideoChunk) -> None:
    """Hand a decoded picture to the café's video taps (the programme of `programme`)."""
    for tap in list(room.video_taps):
        try:
            tap(chunk)
        except Exception:
            logger.exception(
                "video tap failed cafe=%s participant=%s", room.cafe_id, chunk.participant_id
            )


async def pump_audio(
    room: Room,
    publisher: Publisher,
    track: MediaStreamTrack,
    slot: Slot,
    *,
    stats: MediaStats,
    bitrate: int,
) -> None:
    """Decoded frames -> taps, and one Opus encode -> the slot's subscribers."""
    encoder = OpusEncoder()
    encoder.codec.bit_rate = bitrate
    pid = publisher.participant_id
    with contextlib.suppress(MediaStreamError):
        while True:
            frame = await track.recv()
            if not isinstance(frame, AudioFrame):
                continue
            stats.audio_frames_received += 1
            if pid in room.muted:
                stats.audio_frames_muted += 1
                continue
            if room.taps:
                chunk = AudioChunk(room.cafe_id, pid, time.monotonic(), frame, publisher.speaker)
                for tap in list(room.taps):
                    try:
                        tap(chunk)
                    except Exception:
                        logger.exception(
                            "audio tap failed cafe=%s participant=%s", room.cafe_id, pid
                        )
                stats.tap_chunks += 1
            if not slot.outputs:
                continue
            payloads, timestamp = encoder.encode(frame)
            if payloads:
                slot.forward(payloads, pid, timestamp, keyframe=True)
