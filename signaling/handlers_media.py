"""media.publish, media.subscribe, media.answer, media.unpublish: the permission table
decides who may publish what; `signaling.media.MediaRouter` does the WebRTC work, and checks
every SDP (its size against ``limits.sdp_max_bytes`` first: `SdpTooLarge`, the wire's
``payload_too_large``) before aiortc sees it."""

from __future__ import annotations

import dataclasses

from sessions.actors import Actor
from sessions.errors import PermissionDenied, Unavailable
from sessions.roles import Permission, Role
from signaling import messages as m
from signaling.errors import WebRtcFull
from signaling.events import Ack, EventSpec
from signaling.hub import Connection, Hub
from signaling.media import MediaRouter


def _router(hub: Hub) -> MediaRouter:
    if hub.media is None:
        raise Unavailable("The media server is not available.")
    return hub.media


async def _not_banned(hub: Hub, actor: Actor) -> None:
    """A banned socket whose disconnection was lost (another process, a race) must neither
    send nor receive media: the ban is read now, after the permission check."""
    await hub.services().moderation.require_not_banned(actor)


async def publish(hub: Hub, conn: Connection, msg: m.MediaPublish) -> Ack:
    assert conn.actor is not None
    actor = conn.actor
    # Read now, from the store: the stage may have changed on another process, and a mute
    # must hold although this process's media router was restarted since.
    speaker = await hub.services().stage.speaker_state(actor.cafe_id, actor.participant_id)
    if actor.role is Role.PARTICIPANT:
        actor = dataclasses.replace(actor, on_stage=speaker.on_stage)
    if not (actor.can(Permission.PUBLISH_MICROPHONE) or actor.can(Permission.PUBLISH_CAMERA)):
        raise PermissionDenied()
    await _not_banned(hub, actor)
    await hub.require_media_here(actor.cafe_id)
    answer = await _router(hub).publish(actor.cafe_id, actor.participant_id, msg.sdp,
                                        allow_video=actor.can(Permission.PUBLISH_CAMERA),
                                        muted=speaker.muted, speaker=actor.pseudonym)
    conn.publishing = True
    await hub.announce_slots(actor.cafe_id)
    return {"sdp": answer, "type": "answer"}


async def unpublish(hub: Hub, conn: Connection, _msg: m.MediaUnpublish) -> Ack:
    assert conn.actor is not None
    await _router(hub).unpublish(conn.actor.cafe_id, conn.actor.participant_id)
    conn.publishing = False
    await hub.announce_slots(conn.actor.cafe_id)
    return {}


async def subscribe(hub: Hub, conn: Connection, _msg: m.MediaSubscribe) -> Ack:
    actor = conn.actor
    assert actor is not None
    actor.require(Permission.SUBSCRIBE_MEDIA)
    await _not_banned(hub, actor)
    await hub.require_media_here(actor.cafe_id)
    router = _router(hub)
    await _within_capacity(hub, conn, router)
    offer = await router.subscribe(actor.cafe_id, actor.participant_id)
    conn.subscribed = True
    return {"sdp": offer, "type": "offer", "slots": router.slot_sources(actor.cafe_id)}


async def _within_capacity(hub: Hub, conn: Connection, router: MediaRouter) -> None:
    """A parent beyond the café's WebRTC places gets `WebRtcFull` (the page then plays the
    HLS broadcast), unless on stage: read now, the stage may have changed elsewhere."""
    actor = conn.actor
    assert actor is not None
    capacity = hub.webrtc_capacity
    if not capacity or actor.role is not Role.PARTICIPANT or conn.subscribed:
        return
    if router.subscriber_count(actor.cafe_id) < capacity:
        return
    speaker = await hub.services().stage.speaker_state(actor.cafe_id, actor.participant_id)
    if not speaker.on_stage:
        raise WebRtcFull()


async def answer(hub: Hub, conn: Connection, msg: m.MediaAnswer) -> Ack:
    actor = conn.actor
    assert actor is not None
    actor.require(Permission.SUBSCRIBE_MEDIA)
    await _not_banned(hub, actor)
    await _router(hub).accept_answer(actor.cafe_id, actor.participant_id, msg.sdp)
    return {}


EVENTS: dict[str, EventSpec] = {
    "media.publish": EventSpec(m.MediaPublish, publish),
    "media.unpublish": EventSpec(m.MediaUnpublish, unpublish),
    "media.subscribe": EventSpec(m.MediaSubscribe, subscribe),
    "media.answer": EventSpec(m.MediaAnswer, answer),
}
