"""Staff roles that end while their sockets are open: a revoked or expired invitation.

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
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from datetime import datetime
from typing import TYPE_CHECKING

from sessions.cafe import CafeStatus
from sessions.commands import MediaReason, StopPublication
from sessions.events import Effects
from sessions.roles import PERMISSIONS, Permission, Role, allows
from signaling import rooms
from signaling.errors import InvitationEnded
from signaling.presence import PresenceEntry

if TYPE_CHECKING:  # the hub calls this module
    from signaling.hub import Connection, Hub

log = logging.getLogger("causerie.signaling")

REVOKED, EXPIRED = "revoked", "expired"
LEFT_REVOKED = ("Your invitation has been withdrawn: you may come back as a parent once the "
                "café has opened.")
LEFT_EXPIRED = ("Your invitation has expired: you may come back as a parent once the café "
                "has opened.")


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


def untrack(conn: Connection) -> None:
    """The socket leaves its café: no expiry to watch any more."""
    if conn.expiry is not None:
        conn.expiry.cancel()
    conn.expiry = None
    conn.invitation_id = None


async def check_before_event(hub: Hub, conn: Connection) -> None:
    """Before an event of a socket holding an invitation: still valid? (one row read)."""
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
            await role_ended(hub, conn, REVOKED, in_room=False)


async def role_ended(hub: Hub, conn: Connection, reason: str, *, in_room: bool = True) -> None:
    """This socket's staff role ends now: it stays in the café as a parent."""
    actor = conn.actor
    invitation_id = conn.invitation_id
    untrack(conn)
    if actor is None or invitation_id is None:
        return
    parent = dataclasses.replace(actor, role=Role.PARTICIPANT, on_stage=False)
    conn.actor = parent  # first: the very next event is judged with the new role
    if conn.publishing:  # a revocation's own command may have stopped it already
        await hub.carry_out(Effects((), (StopPublication(
            actor.cafe_id, actor.participant_id, MediaReason.REVOKED),)))
    keep = set(rooms.rooms_for(actor.cafe_id, actor.participant_id, Role.PARTICIPANT))
    gone = [r for r in rooms.rooms_for(actor.cafe_id, actor.participant_id, actor.role)
            if r not in keep]
    if in_room:
        gone.append(rooms.invitation_room(invitation_id))
    for room in gone:
        await hub.sio.leave_room(conn.sid, room, namespace=hub.namespace)
    # A café that is not open yet admits no parent: there the socket leaves the café.
    cafe = await hub.services().cafes.get_by_id(actor.cafe_id)
    left = not (cafe.status is CafeStatus.LIVE
                or allows(Role.PARTICIPANT, Permission.JOIN_BEFORE_LIVE))
    if left:
        await hub.detach(conn, disconnected=False)
        notice = (InvitationEnded(LEFT_REVOKED) if reason == REVOKED
                  else InvitationEnded(LEFT_EXPIRED))
    else:
        entry = PresenceEntry(actor.participant_id, actor.pseudonym, Role.PARTICIPANT.value)
        await hub.presence.add(actor.cafe_id, entry, conn.sid)
        hub.presence_changes.joined(actor.cafe_id, entry)
        notice = (InvitationEnded() if reason == REVOKED
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
