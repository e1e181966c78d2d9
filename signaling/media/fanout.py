"""Fan-out of one encoded stream to many subscribers, with the RTP work done once.

A `Slot` is one outgoing stream of a café (the video slot, or one of the audio slots). Every
subscriber's peer connection has one sender per slot, and all those senders share the slot's
SSRC, payload type, MID, sequence numbers and timestamps (they are different connections, so
nothing collides). A frame is therefore packetized and serialized into RTP packets **once**;
per subscriber only the SRTP protection (its own keys, in C) and the ``sendto`` remain.

This module is sans-I/O: a slot reaches each subscriber through a `Link`, which gives the
function sending one serialized packet (None while not connected) and takes the figures of
the sender reports. `sender_link.SenderLink` is the link to a real aiortc sender (its RTCP
feedback routed back to the slot); tests use plain lists of packets.

A subscriber that joins (or asks for a picture) gets nothing on a video slot until the next
keyframe; the slot's encoder is asked for one at most every `KEYFRAME_MIN_INTERVAL` seconds.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import Protocol

from aiortc.clock import current_ntp_time
from aiortc.rtcrtpparameters import RTCRtpSendParameters
from aiortc.rtp import HeaderExtensionsMap, RtpPacket

from .stats import MediaStats

logger = logging.getLogger("causerie.media")

__all__ = ["KEYFRAME_MIN_INTERVAL", "Link", "Output", "SendFn", "Slot"]

KEYFRAME_MIN_INTERVAL = 0.5
HISTORY_SIZE = 512  # packets kept for NACK retransmission, per slot
_SEQ_MASK = 0xFFFF
_TS_MASK = 0xFFFFFFFF

SendFn = Callable[[bytes], None]


class Link(Protocol):
    """How a slot reaches one subscriber."""

    def send_function(self) -> SendFn | None:
        """The function sending one serialized RTP packet now; None while not connected."""

    def report(self, *, ntp: int, rtp_timestamp: int, packets: int, octets: int) -> None:
        """The figures of the subscriber's next RTCP sender report."""


class Output:
    """One subscriber's sender on one slot."""

    __slots__ = (
        "link",
        "need_keyframe",
        "octets",
        "packets",
        "participant_id",
        "slot",
    )

    def __init__(self, slot: Slot, participant_id: int, link: Link) -> None:
        self.slot = slot
        self.participant_id = participant_id
        self.link = link
        self.need_keyframe = slot.kind == "video"
        self.packets = 0
        self.octets = 0

    def update_sender_report(self) -> None:
        """Feed the subscriber's RTCP sender reports with the shared stream's figures."""
        self.link.report(ntp=self.slot.last_ntp, rtp_timestamp=self.slot.last_rtp_timestamp,
                         packets=self.packets, octets=self.octets)


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
        clock: Callable[[], float] = time.monotonic,
        ntp_clock: Callable[[], int] = current_ntp_time,
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
        self._clock = clock
        self._ntp_clock = ntp_clock
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

    def attach(self, participant_id: int, link: Link) -> Output:
        """Connect a subscriber to this slot and return its output."""
        output = Output(self, participant_id, link)
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
        now = self._clock()
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
            send = output.link.send_function()
            if send is None:
                continue
            if output.need_keyframe:
                self._keyframe_wanted = True
            result.append((output, send))
        return result

    # -- forwarding -------------------------------------------------------------------

    def _timestamp(self, source: int, source_ts: int) -> int:
        """Map the source's timestamp onto the slot's continuous RTP timeline."""
        now = self._clock()
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
        ntp = self._ntp_clock()
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
        send = output.link.send_function()
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
