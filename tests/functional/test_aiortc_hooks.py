"""Every private aiortc/aioice attribute the media plane relies on still exists: an upgrade
that removes one fails here, by name, rather than as silent media loss."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiortc
import pytest
from aiortc import RTCPeerConnection, RTCSessionDescription
from media_support import Tone

from signaling.media import aiortc_hooks, build_configuration, offered_host_addresses
from signaling.media.sender_link import IdleTrack


@pytest.fixture
async def pair() -> AsyncIterator[tuple[RTCPeerConnection, RTCPeerConnection]]:
    sender, receiver = RTCPeerConnection(build_configuration()), RTCPeerConnection(
        build_configuration())
    yield sender, receiver
    await sender.close()
    await receiver.close()


async def test_every_private_attribute_exists(
        pair: tuple[RTCPeerConnection, RTCPeerConnection]) -> None:
    pc, _ = pair
    transceiver = pc.addTransceiver(IdleTrack("audio"), direction="sendonly")
    with offered_host_addresses(("127.0.0.1",)):
        await pc.setLocalDescription(await pc.createOffer())
    owners = aiortc_hooks.owners(transceiver)
    missing = [f"{owner}.{name}" for owner, name in aiortc_hooks.PRIVATE_ATTRIBUTES
               if owners.get(owner) is None or not hasattr(owners[owner], name)]
    assert missing == [], (f"aiortc {aiortc.__version__} lacks {missing}: signaling/media/"
                           f"aiortc_hooks.py was checked against {aiortc_hooks.CHECKED_AGAINST}")


async def test_hooks_act_on_a_connected_sender(
        pair: tuple[RTCPeerConnection, RTCPeerConnection]) -> None:
    pc, remote = pair
    transceiver = pc.addTransceiver(Tone(), direction="sendonly")
    with offered_host_addresses(("127.0.0.1",)):
        await pc.setLocalDescription(await pc.createOffer())
        assert pc.localDescription is not None
        await remote.setRemoteDescription(pc.localDescription)
        await remote.setLocalDescription(await remote.createAnswer())
    assert remote.localDescription is not None
    await pc.setRemoteDescription(RTCSessionDescription(remote.localDescription.sdp, "answer"))
    sender = transceiver.sender
    for _ in range(200):
        if aiortc_hooks.fast_sender(sender) is not None:
            break
        await asyncio.sleep(0.05)
    assert aiortc_hooks.fast_sender(sender) is not None, "no send function once connected"
    assert [c.mimeType for c in aiortc_hooks.negotiated_codecs(transceiver)][:1] == [
        "audio/opus"]
    aiortc_hooks.set_sender_ssrc(sender, 1234)
    assert sender._ssrc == 1234
    aiortc_hooks.set_sender_report(sender, ntp=5, rtp_timestamp=6, packets=7, octets=8)
    assert sender.__dict__["_RTCRtpSender__packet_count"] == 7
    asked: list[int] = []

    async def retransmit(sequence: int) -> None:
        asked.append(sequence)

    aiortc_hooks.hook_sender(sender, keyframe=lambda: asked.append(-1), retransmit=retransmit)
    sender._send_keyframe()
    await sender._retransmit(42)
    assert asked == [-1, 42]
