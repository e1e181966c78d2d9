"""Negotiation with aiortc: the answer to a publisher's offer, the offer to a subscriber.

The `MediaRouter` checks the shape of every SDP first (`sdp.check_offer`, `check_answer`)
and calls these under the café's lock. aiortc does not trickle: every description made here
is complete (candidates gathered inside `offered_host_addresses`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence

from aiortc import (
    RTCPeerConnection,
    RTCRtpSender,
    RTCRtpTransceiver,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamTrack

from .aiortc_hooks import negotiated_codecs, set_sender_ssrc
from .errors import InvalidSdp, SlotsFull
from .fanout import Slot
from .ice import offered_host_addresses
from .room import Publisher, Room
from .sdp import OfferShape
from .sender_link import IdleTrack

logger = logging.getLogger("causerie.media")

__all__ = ["accepted_senders", "answer_offer", "apply_answer", "claim_slots", "offer_slots"]


def claim_slots(
    room: Room, previous: Publisher | None, shape: OfferShape
) -> tuple[Slot | None, Slot | None]:
    """The (audio, video) slots a publication of ``shape`` takes: those of the previous
    publication if any, else free ones; `SlotsFull` when one is wanted and none is free."""
    audio_slot = previous.audio_slot if previous else None
    video_slot = previous.video_slot if previous else None
    if shape.audio and audio_slot is None:
        audio_slot = next((s for s in room.audio if s.source is None), None)
        if audio_slot is None:
            raise SlotsFull()
    if shape.video and video_slot is None:
        if room.video.source is not None:
            raise SlotsFull()
        video_slot = room.video
    return audio_slot, video_slot


async def answer_offer(
    pc: RTCPeerConnection, offer_sdp: str, host_addresses: Sequence[str], *, log: str
) -> list[MediaStreamTrack]:
    """Apply a publisher's offer and set the (complete) answer; return the received tracks.

    On failure ``pc`` is closed and `InvalidSdp` raised (``log`` names the café and the
    participant in the message).
    """
    tracks: list[MediaStreamTrack] = []
    pc.on("track", tracks.append)
    try:
        await pc.setRemoteDescription(RTCSessionDescription(offer_sdp, "offer"))
        answer = await pc.createAnswer()
        with offered_host_addresses(host_addresses):
            await pc.setLocalDescription(answer)
    except Exception as exc:
        await pc.close()
        logger.info("publish refused %s: %s", log, exc)
        raise InvalidSdp() from exc
    return tracks


async def offer_slots(
    pc: RTCPeerConnection, slots: Sequence[Slot], host_addresses: Sequence[str]
) -> list[RTCRtpTransceiver]:
    """One ``sendonly`` transceiver per slot, in slot order (VP8 or Opus only, the slot's
    SSRC), and the (complete) offer set; return the transceivers."""
    transceivers = []
    for slot in slots:
        transceiver = pc.addTransceiver(IdleTrack(slot.kind), direction="sendonly")
        wanted = "video/vp8" if slot.kind == "video" else "audio/opus"
        transceiver.setCodecPreferences(
            [
                c
                for c in RTCRtpSender.getCapabilities(slot.kind).codecs
                if c.mimeType.lower() == wanted
            ]
        )
        set_sender_ssrc(transceiver.sender, slot.ssrc)
        transceivers.append(transceiver)
    offer = await pc.createOffer()
    with offered_host_addresses(host_addresses):
        await pc.setLocalDescription(offer)
    for transceiver, slot in zip(transceivers, slots, strict=True):
        if transceiver.mid != slot.mid:  # pragma: no cover - aiortc allocates 0, 1...
            await pc.close()
            raise RuntimeError(f"unexpected mid {transceiver.mid} for {slot.mid}")
    return transceivers


async def apply_answer(pc: RTCPeerConnection, answer_sdp: str, *, log: str) -> None:
    """Apply a subscriber's answer; `InvalidSdp` if aiortc refuses it."""
    try:
        await pc.setRemoteDescription(RTCSessionDescription(answer_sdp, "answer"))
    except Exception as exc:
        logger.info("answer refused %s: %s", log, exc)
        raise InvalidSdp() from exc


def accepted_senders(
    transceivers: Sequence[RTCRtpTransceiver], slots: Sequence[Slot]
) -> Iterator[tuple[Slot, RTCRtpSender]]:
    """The (slot, sender) pairs the browser accepted: sending, with the slot's codec first
    (a rejected section is skipped)."""
    for transceiver, slot in zip(transceivers, slots, strict=True):
        codecs = negotiated_codecs(transceiver)
        if (
            transceiver.currentDirection not in ("sendonly", "sendrecv")
            or not codecs
            or codecs[0].payloadType != slot.payload_type
        ):
            continue
        yield slot, transceiver.sender
