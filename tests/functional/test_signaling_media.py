"""Publishing and subscribing through the socket, with real aiortc peers as the browsers."""

from __future__ import annotations

import asyncio

from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack
from av import AudioFrame
from media_support import publish_tone
from signaling_fixtures import Live, invite, make_cafe

from sessions.roles import Role
from signaling.media import build_configuration, offered_host_addresses

LOOPBACK = ("127.0.0.1",)


async def test_expert_publishes_and_a_parent_receives(
        live: Live, pcs: list[RTCPeerConnection]) -> None:
    cafe = await make_cafe(live.cafes, live=True)
    expert, parent = await live.peer(), await live.peer()
    await expert.join(cafe, "Dr Martin", invite=await invite(live.cafes, cafe, Role.EXPERT))
    await parent.join(cafe, "Marie")

    refused = await publish_tone(parent, pcs)
    assert refused["error"]["code"] == "forbidden"
    # An SDP over limits.sdp_max_bytes (20,000 here) is refused once, by the media plane.
    huge = "v=0\r\n" + "a" * 30_000
    too_large = await expert.call("media.publish", {"sdp": huge, "type": "offer"})
    assert too_large["error"]["code"] == "payload_too_large"

    published = await publish_tone(expert, pcs)
    assert published["ok"] is True and published["type"] == "answer"
    tracks = await parent.next("media.tracks")
    assert tracks["publishers"] == [{"participant_id": expert.me["id"],
                                     "pseudonym": "Dr Martin", "kinds": ["audio"]}]

    ack = await parent.call("media.subscribe", {})
    assert ack["ok"] is True and ack["type"] == "offer"
    assert ack["slots"]["audio0"] == expert.me["id"]
    pc = RTCPeerConnection(build_configuration())
    pcs.append(pc)
    received: list[MediaStreamTrack] = []
    pc.on("track", received.append)
    await pc.setRemoteDescription(RTCSessionDescription(ack["sdp"], "offer"))
    with offered_host_addresses(LOOPBACK):
        await pc.setLocalDescription(await pc.createAnswer())
    assert pc.localDescription is not None
    too_large = await parent.call("media.answer", {"sdp": huge, "type": "answer"})
    assert too_large["error"]["code"] == "payload_too_large"
    answered = await parent.call("media.answer", {"sdp": pc.localDescription.sdp,
                                                  "type": "answer"})
    assert answered["ok"] is True
    audio = [t for t in received if t.kind == "audio"]
    assert audio
    frame = await asyncio.wait_for(audio[0].recv(), 15)
    assert isinstance(frame, AudioFrame)

    assert (await expert.call("media.unpublish", {}))["ok"] is True
    stopped = await parent.next("media.tracks", count=2)
    assert stopped["publishers"] == []


async def test_parent_on_stage_publishes_audio_until_sent_back(
        live: Live, pcs: list[RTCPeerConnection]) -> None:
    cafe = await make_cafe(live.cafes, live=True)
    moderator, parent = await live.peer(), await live.peer()
    await moderator.join(cafe, "Modo", invite=await invite(live.cafes, cafe, Role.MODERATOR))
    await parent.join(cafe, "Marie")
    await parent.call("stage.raise_hand")
    await moderator.call("stage.invite", {"participant_id": parent.me["id"]})
    await parent.next("stage.invitation")
    # Invited but not yet accepted: the microphone cannot open.
    assert (await publish_tone(parent, pcs))["error"]["code"] == "forbidden"
    assert (await parent.call("stage.accept", {}))["ok"] is True
    await parent.next("stage.invited")
    assert (await publish_tone(parent, pcs))["ok"] is True
    assert (await moderator.next("media.tracks"))["publishers"][0]["kinds"] == ["audio"]
    await moderator.call("stage.send_back", {"participant_id": parent.me["id"]})
    assert (await parent.next("media.stopped")) == {"reason": "dismissed"}
    assert (await moderator.next("media.tracks", count=2))["publishers"] == []
