"""join, leave, cafe.open, cafe.end."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from aiohttp_session import get_session

from sessions.actors import Account, Actor
from sessions.cafe import Cafe
from sessions.roles import PERMISSIONS, Permission, Role
from signaling import messages as m
from signaling import rooms, standing
from signaling.errors import AlreadyJoined
from signaling.events import Ack, EventSpec
from signaling.hub import Connection, Hub
from signaling.presence import flagged_terms
from signaling.wire import Fragment

log = logging.getLogger("causerie.signaling")


def cafe_view(cafe: Cafe) -> dict[str, Any]:
    return {
        "id": cafe.id, "slug": cafe.slug, "title": cafe.title, "status": cafe.status.value,
        "language": cafe.language, "theme": cafe.theme,
        "opened_at": cafe.opened_at.isoformat() if cafe.opened_at else None,
        "ended_at": cafe.ended_at.isoformat() if cafe.ended_at else None,
    }


@dataclass(frozen=True, slots=True)
class OrganiserLogin:
    account: Account
    sid: str  # the login's session id (what logout ends)


async def organiser_login(hub: Hub, conn: Connection) -> OrganiserLogin | None:
    """The account logged in on this browser, from the session cookie of the socket's HTTP
    request, and its login; None for everyone else. The café service decides what it makes
    of it (an organiser only in their own association's cafés)."""
    if conn.request is None:
        return None
    try:
        session = await get_session(conn.request)
    except RuntimeError:  # no session middleware on this app
        return None
    organiser_id, sid = session.get("organiser_id"), session.get("sid")
    if not isinstance(organiser_id, int) or not isinstance(sid, str):
        return None
    account = await hub.services().cafes.account(organiser_id)
    return None if account is None else OrganiserLogin(account, sid)


async def join(hub: Hub, conn: Connection, msg: m.Join) -> Ack:
    if conn.actor is not None:
        raise AlreadyJoined()
    if msg.lang:
        conn.lang = msg.lang
    services = hub.services()
    login = await organiser_login(hub, conn)
    joined = await services.cafes.join(
        msg.cafe, browser_key=msg.browser_key, pseudonym=msg.pseudonym,
        invitation_token=msg.invite or None,
        organiser=login.account if login is not None else None,
        address=conn.request.remote if conn.request is not None else None)
    actor = joined.actor
    await hub.attach(conn, actor, flagged_terms(joined.watch))
    await standing.track(hub, conn, joined.invitation_id, joined.invitation_expires_at)
    if login is not None and actor.role is Role.ORGANISER:
        await standing.track_login(hub, conn, login.account.id, login.sid)
    # read once the socket is in the café's rooms: nothing sent meanwhile is missed
    snapshot = await services.snapshots.for_actor(actor)
    # encoded once per change of presence, not once per join (`signaling.wire`); the
    # audience of a large café gets the staff only (`signaling.presence`)
    # (moderators' and organisers' marking the pseudonyms a watched word flags)
    presence = Fragment(await hub.presence.members_json(
                            actor.cafe_id, marked=actor.can(Permission.SEE_PENDING_QUESTIONS))
                        if actor.role in rooms.STAFF_ROLES
                        else await hub.presence.audience_json(actor.cafe_id,
                                                              hub.presence_list_limit))
    present = await hub.presence.count(actor.cafe_id)
    log.info("joined cafe=%s participant=%s role=%s sid=%s", actor.cafe_id,
             actor.participant_id, actor.role.value, conn.sid)
    reports = await services.reports.snapshot(actor)  # for those who handle them only
    return {
        **({"reports": reports} if reports is not None else {}),
        "participant": {"id": actor.participant_id, "role": actor.role.value,
                        "pseudonym": actor.pseudonym, "on_stage": snapshot.on_stage},
        "permissions": sorted(p.value for p in PERMISSIONS[actor.role]),
        "cafe": cafe_view(joined.cafe),
        "presence": presence,
        "presence_count": present,
        "qa": snapshot.qa,
        "stage": snapshot.stage,
        "chat": snapshot.chat,
        "ice_servers": hub.ice_servers,
        "media": await hub.publishing(actor.cafe_id),
    }


async def leave(hub: Hub, conn: Connection, _msg: m.Leave) -> Ack:
    await hub.detach(conn, disconnected=False)
    return {}


def _actor(conn: Connection) -> Actor:
    assert conn.actor is not None  # the dispatcher checks needs_join
    return conn.actor


async def cafe_open(hub: Hub, conn: Connection, _msg: m.CafeOpen) -> Ack:
    cafe, events = await hub.services().cafes.open_cafe(_actor(conn))
    await hub.emit(events)
    await hub.cafe_opened(cafe.id)
    return {"cafe": cafe_view(cafe)}


async def cafe_end(hub: Hub, conn: Connection, _msg: m.CafeEnd) -> Ack:
    """Everyone is told, media stops, every socket (on every process) leaves the café."""
    cafe, events = await hub.services().cafes.end_cafe(_actor(conn))
    await hub.emit(events)
    await hub.record_final_peak(cafe.id)
    await hub.presence.clear(cafe.id)
    # Closing the rooms runs `Hub.on_room_closed` on every process (see `manager.py`).
    for room in rooms.all_cafe_rooms(cafe.id):
        await hub.sio.close_room(room, namespace=hub.namespace)
    return {"cafe": cafe_view(cafe)}


EVENTS: dict[str, EventSpec] = {
    "join": EventSpec(m.Join, join, needs_join=False),
    "leave": EventSpec(m.Leave, leave),
    "cafe.open": EventSpec(m.CafeOpen, cafe_open),
    "cafe.end": EventSpec(m.CafeEnd, cafe_end),
}
