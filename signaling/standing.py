"""Staff roles that end while their sockets are open: a revoked or expired invitation, an
organiser's login that ended (logout, a password change).

A socket that joined with an invitation is in that invitation's room
(`rooms.invitation_room`). Revoking the invitation closes the room: python-socketio's
manager closes it on every process (through Redis when several run), and each process
calls `role_ended` for its own sockets of that room (`Hub.on_room_closed`). A socket also
checks its invitation against the database before each event it sends and when the
invitation's expiry time comes (`check_before_event`, the expiry timer): a revocation
whose broadcast was lost (Redis away) or an expiry still takes the role off at once.

Ending the role: the socket's actor becomes a parent (`participant`), it leaves the staff
rooms (no pending questions nor staff events any more), its media publication stops (a
`StopPublication` command), the café's presence shows the new role, and the socket is told
(`role.changed`). In a café that is not open yet, which admits no parent, the socket
leaves the café instead (`left: true`).

An organiser's role comes from their login (the session cookie of the socket's HTTP
request). A socket that joined as organiser is in its login's room (`rooms.login_room`) and
in the organiser's (`rooms.organiser_room`): logging out closes the first, a password change
(which ends every login of the organiser) the second, and the role ends as above (reason
`logged_out`, the stored role too). Before each event such a socket sends, its cookie is
loaded again through the session storage, which checks the login on the server: a login
ended elsewhere (an operator's password reset, another process) holds at the next action.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from datetime import datetime
from typing import TYPE_CHECKING

from aiohttp_session import STORAGE_KEY

from sessions.cafe import CafeStatus
from sessions.commands import MediaReason, StopPublication
from sessions.events import Effects
from sessions.roles import PERMISSIONS, Permission, Role, allows
from signaling import rooms
from signaling.errors import InvitationEnded, LoginEnded

if TYPE_CHECKING:  # the hub calls this module
    from signaling.hub import Connection, Hub

log = logging.getLogger("causerie.signaling")

REVOKED, EXPIRED, LOGGED_OUT = "revoked", "expired", "logged_out"
LEFT_REVOKED = ("Your invitation has been withdrawn: you may come back as a parent once the "
                "café has opened.")
LEFT_EXPIRED = ("Your invitation has expired: you may come back as a parent once the café "
                "has opened.")
LEFT_LOGGED_OUT = ("Your organiser session has ended: you may come back as a parent once the "
                   "café has opened.")


async def track(hub: Hub, conn: Connection, invitation_id: int | None,
                expires_at: datetime | None) -> None:
    """After a join: remember the socket's invitation, enter its room, arm its expiry."""
    if invitation_id is None:
        return
    conn.invitation_id = invitation_id
    await hub.sio.enter_room(conn.sid, rooms.invitation_room(invitation_id),
                             namespace=hub.namespace)
    if expires_at is not None:
        delay = (expires_at - hub.services().cafes.clock.now()).total_seconds()
        loop = asyncio.get_running_loop()
        # the coroutine is made when the timer fires (a cancelled timer leaves none behind)
        conn.expiry = loop.call_later(max(0.0, delay) + 0.01,
                                      lambda: hub.spawn(_expire(hub, conn, invitation_id)))


async def track_login(hub: Hub, conn: Connection, organiser_id: int, sid: str) -> None:
    """After an organiser's join: enter the rooms that logout and a password change close."""
    conn.login_rooms = (rooms.login_room(sid), rooms.organiser_room(organiser_id))
    for room in conn.login_rooms:
        await hub.sio.enter_room(conn.sid, room, namespace=hub.namespace)


def untrack(conn: Connection) -> None:
    """The socket leaves its café: no expiry to watch any more."""
    if conn.expiry is not None:
        conn.expiry.cancel()
    conn.expiry = None
    conn.invitation_id = None
    conn.login_rooms = ()


async def logins_ended(hub: Hub, *, sid: str | None = None,
                       organiser_id: int | None = None) -> None:
    """After a logout (its session `sid`) or a password change (every login of
    `organiser_id`): the organiser role ends on those sockets, on every process."""
    if sid:
        await hub.sio.close_room(rooms.login_room(sid), namespace=hub.namespace)
    if organiser_id is not None:
        await hub.sio.close_room(rooms.organiser_room(organiser_id), namespace=hub.namespace)


async def login_closed(hub: Hub, room: str) -> None:
    """A login's room was closed: on this process's sockets."""
    for conn in list(hub.connections.values()):
        if room in conn.login_rooms:
            await role_ended(hub, conn, LOGGED_OUT, closed_room=room)


async def _login_holds(conn: Connection) -> bool:
    """The socket's cookie still names a live login (the storage checks it on the server)."""
    request = conn.request
    storage = request.get(STORAGE_KEY) if request is not None else None
    if request is None or storage is None:
        return False
    session = await storage.load_session(request)
    return isinstance(session.get("organiser_id"), int)


async def check_before_event(hub: Hub, conn: Connection) -> None:
    """Before an event of a socket holding an invitation or a login: still valid? (one read)."""
    if conn.login_rooms and conn.actor is not None and not await _login_holds(conn):
        await role_ended(hub, conn, LOGGED_OUT)
        return
    invitation_id = conn.invitation_id
    if invitation_id is None or conn.actor is None:
        return
    lapsed = await hub.services().cafes.invitation_lapsed(invitation_id)
    if lapsed is not None and conn.invitation_id == invitation_id:
        await role_ended(hub, conn, lapsed)


async def _expire(hub: Hub, conn: Connection, invitation_id: int) -> None:
    conn.expiry = None
    if conn.invitation_id != invitation_id or hub.connections.get(conn.sid) is not conn:
        return
    lapsed = await hub.services().cafes.invitation_lapsed(invitation_id)
    if lapsed is not None and conn.invitation_id == invitation_id:
        await role_ended(hub, conn, lapsed)


async def invitation_closed(hub: Hub, invitation_id: int) -> None:
    """The invitation's room was closed (it was revoked): on this process's sockets."""
    for conn in list(hub.connections.values()):
        if conn.invitation_id == invitation_id:
            await role_ended(hub, conn, REVOKED,
                             closed_room=rooms.invitation_room(invitation_id))


async def role_ended(hub: Hub, conn: Connection, reason: str, *,
                     closed_room: str | None = None) -> None:
    """This socket's staff role ends now: it stays in the café as a parent. `closed_room`:
    the room whose closing ended it (being closed, not to be left)."""
    actor = conn.actor
    invitation_id, login_rooms = conn.invitation_id, conn.login_rooms
    untrack(conn)
    if actor is None or (invitation_id is None and not login_rooms):
        return
    if login_rooms:  # the stored role too (an invitation's lapse demotes its own)
        await hub.services().cafes.end_organiser_role(actor.participant_id)
    parent = dataclasses.replace(actor, role=Role.PARTICIPANT, on_stage=False)
    conn.actor = parent  # first: the very next event is judged with the new role
    if conn.publishing:  # a revocation's own command may have stopped it already
        await hub.carry_out(Effects((), (StopPublication(
            actor.cafe_id, actor.participant_id, MediaReason.REVOKED),)))
    keep = set(rooms.rooms_for(actor.cafe_id, actor.participant_id, Role.PARTICIPANT))
    gone = [r for r in rooms.rooms_for(actor.cafe_id, actor.participant_id, actor.role)
            if r not in keep]
    if invitation_id is not None:
        gone.append(rooms.invitation_room(invitation_id))
    gone += [r for r in login_rooms if r not in gone]
    gone = [r for r in gone if r != closed_room]
    for room in gone:
        await hub.sio.leave_room(conn.sid, room, namespace=hub.namespace)
    # A café that is not open yet admits no parent: there the socket leaves the café.
    cafe = await hub.services().cafes.get_by_id(actor.cafe_id)
    left = not (cafe.status is CafeStatus.LIVE
                or allows(Role.PARTICIPANT, Permission.JOIN_BEFORE_LIVE))
    if left:
        await hub.detach(conn, disconnected=False)
        notice = (InvitationEnded(LEFT_REVOKED) if reason == REVOKED
                  else LoginEnded(LEFT_LOGGED_OUT) if reason == LOGGED_OUT
                  else InvitationEnded(LEFT_EXPIRED))
    else:
        entry = conn.presence_entry(actor, Role.PARTICIPANT.value)
        # A parent now, but one who came as invited staff is not counted in the café's
        # attendance peak; an organiser whose login ended is (their stored role is a parent's).
        conn.parent = invitation_id is None
        await hub.record_presence(conn, actor.cafe_id, entry)
        hub.presence_changes.joined(actor.cafe_id, entry)
        notice = (InvitationEnded() if reason == REVOKED else LoginEnded() if reason == LOGGED_OUT
                  else InvitationEnded(
                      "Your invitation has expired: you now take part as a parent."))
    await hub.sio.emit("role.changed", {
        "role": Role.PARTICIPANT.value, "reason": reason, "left": left,
        "permissions": sorted(p.value for p in PERMISSIONS[Role.PARTICIPANT]),
        "message": hub.translate(conn.lang, notice),
    }, to=conn.sid, namespace=hub.namespace)
    log.info("staff role ended cafe=%s participant=%s invitation=%s reason=%s sid=%s",
             actor.cafe_id, actor.participant_id, invitation_id, reason, conn.sid)


async def revoke(hub: Hub, invitation_id: int, effects: Effects) -> None:
    """After `CafeService.revoke_invitation`: carry out what it returned (its commands stop
    the publications of whoever joined with it), then take the role off the invitation's
    open sockets, on every process."""
    await hub.carry_out(effects)
    await hub.sio.close_room(rooms.invitation_room(invitation_id), namespace=hub.namespace)
