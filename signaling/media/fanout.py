"""Fan-out of one encoded stream to many subscribers, with the RTP work done once.

A `Slot` is one outgoing stream of a café (the video slot, or one of the audio slots). Every
subscriber's peer connection has one sender per slot, and all those senders share the slot's
SSRC, payload type, MID, sequence numbers and timestamps (they are different connections, so
nothing collides). A frame is therefore packetized and serialized into RTP packets **once**;
per subscriber only the SRTP protection (its own keys, in C) and the ``sendto`` remain.

aiortc's `RTCRtpSender` keeps the negotiation, the RTCP reports and the routing of the
subscriber's RTCP: its own RTP loop idles on an `IdleTrack`, and three hooks on each sender
instance connect it to the slot: a PLI/FIR asks the slot's encoder for a keyframe, a NACK
resends the shared packet, and the slot's counters feed its sender reports. Those hooks
touch aiortc internals; they live in this module only (`attach_sender`, `_fast_sender`).

A subscriber that joins (or asks for a picture) gets nothing on a video slot until the next
keyframe; the slot's encoder is asked for one at most every `KEYFRAME_MIN_INTERVAL` seconds.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from aiortc import RTCRtpSender
from aiortc.clock import current_ntp_time
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.rtcrtpparameters import RTCRtpSendParameters
from aiortc.rtp import HeaderExtensionsMap, RtpPacket

logger = logging.getLogger("causerie.media")

__all__ = [
    "KEYFRAME_MIN_INTERVAL",
    "VIDEO_BACKLOG",
    "FrameBacklog",
    "IdleTrack",
    "MediaStats",
    "Output",
    "Slot",
]

KEYFRAME_MIN_INTERVAL = 0.5
VIDEO_BACKLOG = 10  # decoded frames waiting for the shared encoder (1/3 s at 30 fps)
HISTORY_SIZE = 512  # packets kept for NACK retransmission, per slot
_SEQ_MASK = 0xFFFF
_TS_MASK = 0xFFFFFFFF

SendFn = Callable[[bytes], None]
T = TypeVar("T")


@dataclass(slots=True)
class MediaStats:
    """Counters of the media plane, for /metrics (all only grow)."""

    video_frames_received: int = 0  # decoded frames from publishers
    video_frames_dropped: int = 0  # decoded frames dropped: the shared encoder fell behind
    audio_frames_received: int = 0
    audio_frames_muted: int = 0  # dropped because the publisher is muted
    tap_chunks: int = 0  # chunks handed to audio taps
    frames_in: int = 0  # frames handed to slots (after encoding)
    frames_out: int = 0  # frame deliveries, summed over subscribers
    packets_out: int = 0  # RTP packets sent, summed over subscribers
    bytes_out: int = 0  # RTP bytes (before SRTP) sent, summed over subscribers
    retransmissions: int = 0
    keyframes_requested: int = 0
    send_errors: int = 0


class FrameBacklog(Generic[T]):
    """The decoded frames of one publisher waiting for its encoder, at most ``limit``.

    aiortc's receiving track queues decoded frames without bound; the router drains it into
    this backlog as frames arrive, so an encoder that falls behind (a busy core) costs
    dropped frames and not memory plus ever-growing latency. When full, `put` drops the
    oldest frame that is not a keyframe (the oldest frame when all are), counting it in
    ``stats.video_frames_dropped``. A decoded frame is a whole picture to the re-encoder,
    so any drop leaves the outgoing stream decodable.
    """

    def __init__(self, limit: int, stats: MediaStats) -> None:
        if limit < 1:
            raise ValueError("limit must be >= 1")
        self.limit = limit
        self._stats = stats
        self._frames: deque[T] = deque()
        self._ready = asyncio.Event()
        self._ended = False

    def __len__(self) -> int:
        return len(self._frames)

    def put(self, frame: T) -> None:
        frames = self._frames
        if len(frames) >= self.limit:
            for i, queued in enumerate(frames):
                if not getattr(queued, "key_frame", False):
                    del frames[i]
                    break
            else:
                frames.popleft()
            self._stats.video_frames_dropped += 1
        frames.append(frame)
        self._ready.set()

    def end(self) -> None:
        """No more frames: `get` raises `MediaStreamError` once the backlog is empty."""
        self._ended = True
        self._ready.set()

    async def get(self) -> T:
        while not self._frames:
            if self._ended:
                raise MediaStreamError
            self._ready.clear()
            await self._ready.wait()
        return self._frames.popleft()


class IdleTrack(MediaStreamTrack):
    """A track that never yields: the sender's own RTP loop sleeps on it at no cost."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind
        self._never: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def recv(self) -> Any:
        await self._never
        raise MediaStreamError

    def stop(self) -> None:
        super().stop()
        if not self._never.done():
            self._never.cancel()


def _fast_sender(sender: RTCRtpSender) -> SendFn | None:
    """Return a function sending one plain RTP packet on ``sender``'s connection.

    It does what ``RTCDtlsTransport._send_rtp`` does without its three awaits: SRTP
    protection with the connection's outbound session, then ``sendto`` on the nominated
    ICE pair. None while the DTLS transport is not connected.
    """
    dtls = sender.transport
    if dtls.state != "connected":
        return None
    srtp = getattr(dtls, "_tx_srtp", None)
    connection = getattr(dtls.transport, "_connection", None)
    if srtp is None or connection is None:
        return None
    pair = connection._nominated.get(1)
    if pair is None or pair.protocol.transport is None:
        return None
    protect = srtp.protect
    sendto = pair.protocol.transport.sendto
    addr = pair.remote_addr

    def send(data: bytes) -> None:
        sendto(protect(data), addr)

    return send


class Output:
    """One subscriber's sender on one slot."""

    __slots__ = (
        "need_keyframe",
        "octets",
        "packets",
        "participant_id",
        "sender",
        "slot",
    )

    def __init__(self, slot: Slot, participant_id: int, sender: RTCRtpSender) -> None:
        self.slot = slot
        self.participant_id = participant_id
        self.sender = sender
        self.need_keyframe = slot.kind == "video"
        self.packets = 0
        self.octets = 0

    def update_sender_report(self) -> None:
        """Feed the sender's RTCP sender reports with the shared stream's figures."""
        values = self.sender.__dict__
        values["_RTCRtpSender__ntp_timestamp"] = self.slot.last_ntp
        values["_RTCRtpSender__rtp_timestamp"] = self.slot.last_rtp_timestamp
        values["_RTCRtpSender__packet_count"] = self.packets
        values["_RTCRtpSender__octet_count"] = self.octets


class Slot:
    """One shared outgoing RTP stream (see the module docstring).

    ``source`` is the participant whose media currently feeds the slot, None when idle;
    that participant does not receive its own stream back.
    """

    def __init__(
        self,
        kind: str,
        *,
        index: int,
        mid: str,
        payload_type: int,
        clock_rate: int,
        send_parameters: RTCRtpSendParameters,
        stats: MediaStats,
    ) -> None:
        self.kind = kind
        self.index = index
        self.mid = mid
        self.payload_type = payload_type
        self.clock_rate = clock_rate
        self.ssrc = random.getrandbits(32) or 1
        self.source: int | None = None
        self.outputs: dict[int, Output] = {}
        self.last_ntp = 0
        self.last_rtp_timestamp = 0
        self._stats = stats
        self._extensions = HeaderExtensionsMap()
        self._extensions.configure(send_parameters)
        self._sequence = random.getrandbits(15)
        self._history: list[tuple[int, bytes] | None] = [None] * HISTORY_SIZE
        self._ts_offset: int | None = None
        self._ts_source: int | None = None
        self._last_source_ts = 0
        self._last_wall = 0.0
        self._keyframe_wanted = False
        self._last_keyframe_request = -1e9

    # -- subscribers ------------------------------------------------------------------

    def attach_sender(self, participant_id: int, sender: RTCRtpSender) -> Output:
        """Connect a subscriber's (negotiated) sender to this slot and return its output."""
        output = Output(self, participant_id, sender)
        sender.__dict__["_send_keyframe"] = self.request_keyframe
        slot = self

        async def retransmit(sequence_number: int) -> None:
            slot.retransmit(output, sequence_number)

        sender.__dict__["_retransmit"] = retransmit
        self.outputs[participant_id] = output
        return output

    def detach(self, participant_id: int) -> None:
        self.outputs.pop(participant_id, None)

    def request_keyframe(self) -> None:
        """A subscriber lost the picture (PLI/FIR) or joined: want a keyframe soon."""
        self._keyframe_wanted = True

    def take_keyframe_request(self) -> bool:
        """For the slot's encoder: whether to force this frame as a keyframe (rate-limited)."""
        if not self._keyframe_wanted:
            return False
        now = time.monotonic()
        if now - self._last_keyframe_request < KEYFRAME_MIN_INTERVAL:
            return False
        self._keyframe_wanted = False
        self._last_keyframe_request = now
        self._stats.keyframes_requested += 1
        return True

    def ready(self) -> list[tuple[Output, SendFn]]:
        """Outputs that can receive now (connected, not the source itself)."""
        result = []
        source = self.source
        for output in self.outputs.values():
            if output.participant_id == source:
                continue
            send = _fast_sender(output.sender)
            if send is None:
                continue
            if output.need_keyframe:
                self._keyframe_wanted = True
            result.append((output, send))
        return result

    # -- forwarding -------------------------------------------------------------------

    def _timestamp(self, source: int, source_ts: int) -> int:
        """Map the source's timestamp onto the slot's continuous RTP timeline."""
        now = time.monotonic()
        if self._ts_offset is None:
            self._ts_offset = random.getrandbits(31) - source_ts
        elif source != self._ts_source or abs(
            (source_ts - self._last_source_ts) / self.clock_rate - (now - self._last_wall)
        ) > 1.0:
            # New source (or a jump in its clock): continue from the elapsed wall time.
            expected = self.last_rtp_timestamp + max(
                1, int((now - self._last_wall) * self.clock_rate)
            )
            self._ts_offset = expected - source_ts
        self._ts_source = source
        self._last_source_ts = source_ts
        self._last_wall = now
        return (source_ts + self._ts_offset) & _TS_MASK

    def packetize(self, payloads: list[bytes], source: int, source_ts: int) -> list[bytes]:
        """Turn one frame's payloads into serialized RTP packets (once for everyone)."""
        timestamp = self._timestamp(source, source_ts)
        ntp = current_ntp_time()
        abs_send_time = (ntp >> 14) & 0x00FFFFFF if self.kind == "video" else None
        packets = []
        last = len(payloads) - 1
        history = self._history
        for i, payload in enumerate(payloads):
            packet = RtpPacket(
                payload_type=self.payload_type,
                marker=1 if i == last else 0,
                sequence_number=self._sequence,
                timestamp=timestamp,
                ssrc=self.ssrc,
                payload=payload,
            )
            packet.extensions.mid = self.mid
            packet.extensions.abs_send_time = abs_send_time
            data = packet.serialize(self._extensions)
            history[self._sequence % HISTORY_SIZE] = (self._sequence, data)
            packets.append(data)
            self._sequence = (self._sequence + 1) & _SEQ_MASK
        self.last_ntp = ntp
        self.last_rtp_timestamp = timestamp
        return packets

    def forward(
        self,
        payloads: list[bytes],
        source: int,
        source_ts: int,
        *,
        keyframe: bool,
        recipients: list[tuple[Output, SendFn]] | None = None,
    ) -> int:
        """Send one encoded frame to every ready subscriber; return how many got it.

        ``recipients`` is `ready()` taken before encoding (it is recomputed when None).
        Outputs waiting for a keyframe skip the frame unless it is one.
        """
        if not payloads:
            return 0
        if recipients is None:
            recipients = self.ready()
        packets = self.packetize(payloads, source, source_ts)
        size = sum(len(p) for p in packets)
        count = len(packets)
        delivered = 0
        errors = 0
        for output, send in recipients:
            if output.need_keyframe:
                if not keyframe:
                    continue
                output.need_keyframe = False
            try:
                for data in packets:
                    send(data)
            except (OSError, RuntimeError, ValueError):
                errors += 1
                continue
            output.packets += count
            output.octets += size
            delivered += 1
        stats = self._stats
        stats.frames_in += 1
        stats.frames_out += delivered
        stats.packets_out += delivered * count
        stats.bytes_out += delivered * size
        stats.send_errors += errors
        return delivered

    def retransmit(self, output: Output, sequence_number: int) -> None:
        """Resend a packet a subscriber reported lost (same SSRC and sequence number)."""
        entry = self._history[sequence_number % HISTORY_SIZE]
        if entry is None or entry[0] != sequence_number:
            return
        send = _fast_sender(output.sender)
        if send is None:
            return
        try:
            send(entry[1])
        except (OSError, RuntimeError, ValueError):
            self._stats.send_errors += 1
            return
        self._stats.retransmissions += 1

    def reset_source(self) -> None:
        """The source left: the next source continues the timeline from the wall clock."""
        self.source = None
