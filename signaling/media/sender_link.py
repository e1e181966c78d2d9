"""The link from a `fanout.Slot` to one subscriber's real aiortc sender.

aiortc's `RTCRtpSender` keeps the negotiation, the RTCP reports and the routing of the
subscriber's RTCP: its own RTP loop idles on an `IdleTrack`, and hooks on each sender
instance connect it to the slot: a PLI/FIR asks the slot's encoder for a keyframe, a NACK
resends the shared packet, and the slot's counters feed its sender reports. The private
attributes this needs are touched in `aiortc_hooks` only.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiortc import RTCRtpSender
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from .aiortc_hooks import fast_sender, hook_sender, set_sender_report
from .fanout import Output, SendFn, Slot

__all__ = ["IdleTrack", "SenderLink", "attach_sender"]


class SenderLink:
    """A `fanout.Link` over an aiortc sender."""

    __slots__ = ("sender",)

    def __init__(self, sender: RTCRtpSender) -> None:
        self.sender = sender

    def send_function(self) -> SendFn | None:
        return fast_sender(self.sender)

    def report(self, *, ntp: int, rtp_timestamp: int, packets: int, octets: int) -> None:
        set_sender_report(self.sender, ntp=ntp, rtp_timestamp=rtp_timestamp,
                          packets=packets, octets=octets)


def attach_sender(slot: Slot, participant_id: int, sender: RTCRtpSender) -> Output:
    """Connect a subscriber's negotiated sender to ``slot``, its RTCP feedback included."""
    output = slot.attach(participant_id, SenderLink(sender))

    async def retransmit(sequence_number: int) -> None:
        slot.retransmit(output, sequence_number)

    hook_sender(sender, keyframe=slot.request_keyframe, retransmit=retransmit)
    return output


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
