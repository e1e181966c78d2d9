"""Connections and delivery: each local socket (`Connection`), the rooms it is in, and the
one path out (`Hub.emit`, `Hub.carry_out`) for what the services return. The services and
the media router are handed in (the composition root is `server`); handlers receive the
`Hub` and the `Connection`; they parse nothing and decide nothing themselves.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from aiohttp import web

from sessions.actors import Actor
from sessions.attendance import PARENT_ROLES
from sessions.commands import (
    BanAddress,
    DisconnectMedia,
    DisconnectParticipant,
    MediaReason,
    SetMuted,
    StopPublication,
)
from sessions.errors import CauserieError
from sessions.events import Audience, Effects, Outbound
from sessions.services import Services
from signaling import rooms, standing
from signaling.commands import from_wire, to_wire
from signaling.errors import BACKEND_ERRORS, MediaElsewhere
from signaling.manager import EXCEPT_ROOM
from signaling.peaks import PeakRecorder
from signaling.placement import Placement, SingleNode
from signaling.presence import (
    Arrival,
    PresenceBatcher,
    PresenceEntry,
    PresenceStore,
    audience_diff,
    unmarked,
)
from signaling.presence_redis import RedisPresence
from signaling.settings import SignalingLimits

if TYPE_CHECKING:
    from signaling.media import MediaRouter

log = logging.getLogger("causerie.signaling")

Translate = Callable[[str, CauserieError], str]


@dataclass(slots=True)
class Connection:
    """One socket of this process."""

    sid: str
    request: web.Request | None
    lang: str = "fr"
    actor: Actor | None = None
    # the flood window: start (monotonic seconds) and events counted in it
    window_start: float = 0.0
    window_count: int = 0
    flood_logged: bool = False
    publishing: bool = False
    subscribed: bool = False
    # the invitation behind a staff role, and the timer of its expiry (`signaling.standing`)
    invitation_id: int | None = None
    expiry: asyncio.TimerHandle | None = None
    # the rooms of the organiser login behind an organiser role (`signaling.standing`)
    login_rooms: tuple[str, ...] = ()
    # counts among the café's parents for its attendance peak (`sessions.attendance`)
    parent: bool = False
    # the watched words that flag the participant's pseudonym (moderators see them)
    flagged: tuple[str, ...] = ()

    def presence_entry(self, actor: Actor, role: str | None = None) -> PresenceEntry:
        """This socket's participant as presence lists them (with `role` instead of the
        actor's when it changes)."""
        return PresenceEntry(actor.participant_id, actor.pseudonym, role or actor.role.value,
                             self.flagged)


class CafeObserver(Protocol):
    """Told what happens to a café's media on this process (the server connects the
    recorder and live captions here: signaling does not import transcripts)."""

    async def cafe_opened(self, cafe_id: int) -> None: ...

    async def publishers_changed(self, cafe_id: int, publishers: dict[int, str]) -> None:
        """The participants whose audio this process forwards now, with their pseudonyms."""

    async def cafe_closed(self, cafe_id: int) -> None:
        """The café ended: called on every process, after its media stopped."""


@dataclass(eq=False)
class Hub:
    sio: Any  # socketio.AsyncServer (untyped)
    presence: PresenceStore
    translate: Translate
    limits: SignalingLimits
    ice_servers: list[dict[str, Any]]
    services: Callable[[], Services]
    media: MediaRouter | None = None
    # which process holds each café's media (several processes: `signaling.placement`)
    placement: Placement = field(default_factory=SingleNode)
    namespace: str = "/"
    # Parents per café on WebRTC (0: no limit); beyond, `media.subscribe` answers
    # `webrtc_full` and the page plays the café's HLS instead (staff and stage: always).
    webrtc_capacity: int = 0
    # People in a café beyond which its audience sees only the staff in presence, and the
    # number present (`signaling.presence.audience_diff`); staff always see everyone.
    presence_list_limit: int = 50
    connections: dict[str, Connection] = field(default_factory=dict)
    observers: list[CafeObserver] = field(default_factory=list)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    # presence removals Redis was not there for: (cafe, participant, sid), retried when back
    _lost_removals: list[tuple[int, int, str]] = field(default_factory=list)
    presence_changes: PresenceBatcher = field(init=False)
    # the café's peak of parents present at once, written while live (`signaling.peaks`)
    peaks: PeakRecorder = field(init=False)

    def __post_init__(self) -> None:
        self.presence_changes = PresenceBatcher(self.presence, self._emit_presence, self.spawn)
        self.peaks = PeakRecorder(self._write_peak)
        if isinstance(self.presence, RedisPresence):
            # participants of a dead process leave (swept), and come back after an outage
            self.presence.on_stale = self.presence_changes.left
            self.presence.on_recovered = self.presence_recovered

    async def _write_peak(self, cafe_id: int, peak: int, final: bool) -> bool:
        return await self.services().cafes.associations.record_peak(cafe_id, peak,
                                                                     final=final)

    async def _emit_presence(self, cafe_id: int, diff: dict[str, Any]) -> None:
        """The staff get the diff whole, the audience `audience_diff` of it. Entries whose
        pseudonym a watched word flags carry `watch` only in the copy of the moderators and
        organisers (as a flagged chat message does); the rest of the staff (the expert) get
        it `unmarked`, as everyone else does."""
        staff, plain = rooms.staff_room(cafe_id), unmarked(diff)
        if plain is diff:
            await self.sio.emit("presence.changed", diff, room=staff, namespace=self.namespace)
        else:
            moderators = rooms.moderators_room(cafe_id)
            await self.sio.emit("presence.changed", diff, room=moderators,
                                namespace=self.namespace)
            await self.sio.emit("presence.changed", plain, room=staff,
                                skip_sid=[EXCEPT_ROOM + moderators], namespace=self.namespace)
        await self.sio.emit("presence.changed", audience_diff(plain, self.presence_list_limit),
                            room=rooms.cafe_room(cafe_id), skip_sid=[EXCEPT_ROOM + staff],
                            namespace=self.namespace)

    # -- emitting ---------------------------------------------------------------------

    async def emit(self, events: Iterable[Outbound]) -> None:
        """Send each event to its audience's room.

        Excluded participants (`Outbound.exclude`) are skipped by room, and so is a narrower
        audience that gets its own copy of the same event in the batch (moderators get the
        moderator view of a question, not also the public one): every process resolves those
        rooms to its own sockets (`manager.EXCEPT_ROOM`)."""
        batch = list(events)
        for event in batch:
            skip = [EXCEPT_ROOM + rooms.participant_room(p) for p in event.exclude]
            if event.audience is Audience.CAFE:
                skip += [EXCEPT_ROOM + rooms.room_of(other) for other in batch
                         if other.event == event.event and other.cafe_id == event.cafe_id
                         and other.audience in (Audience.MODERATORS, Audience.STAFF)]
            await self.sio.emit(event.event, event.payload, room=rooms.room_of(event),
                                skip_sid=skip or None, namespace=self.namespace)

    # -- joining and leaving ------------------------------------------------------------

    async def attach(self, conn: Connection, actor: Actor,
                     flagged: tuple[str, ...] = ()) -> bool:
        """Enter the rooms of `actor`, record presence (`flagged`: the watched words that
        flag its pseudonym); True for the participant's first socket (and then tell the
        café, batched: `presence.changed`)."""
        conn.actor, conn.flagged = actor, flagged
        joined = rooms.rooms_for(actor.cafe_id, actor.participant_id, actor.role)
        for room in joined:
            await self.sio.enter_room(conn.sid, room, namespace=self.namespace)
        entry = conn.presence_entry(actor)
        conn.parent = actor.role in PARENT_ROLES
        try:
            arrival = await self.record_presence(conn, actor.cafe_id, entry)
        except BACKEND_ERRORS:  # not joined at all: the client may try again
            conn.actor = None
            for room in joined:
                await self.sio.leave_room(conn.sid, room, namespace=self.namespace)
            raise
        if arrival.first:
            self.presence_changes.joined(actor.cafe_id, entry)
        return arrival.first

    async def record_presence(self, conn: Connection, cafe_id: int,
                              entry: PresenceEntry) -> Arrival:
        """Record the socket in the café's presence (as a parent or not: `conn.parent`) and
        hand the café's running peak to the recorder."""
        arrival = await self.presence.add(cafe_id, entry, conn.sid, parent=conn.parent)
        self.peaks.seen(cafe_id, arrival.peak)
        return arrival

    async def record_final_peak(self, cafe_id: int) -> None:
        """The café ended: its peak (the store's, which every process fed) is written
        before its presence is cleared. A failure is logged, never the end's."""
        try:
            peak = await self.presence.peak(cafe_id)
        except BACKEND_ERRORS as exc:  # Redis away: what this process saw
            log.warning("attendance peak unread cafe=%s: %s", cafe_id, type(exc).__name__)
            peak = 0
        try:
            await self.peaks.final(cafe_id, peak)
        except Exception:
            log.exception("attendance peak not written cafe=%s", cafe_id)

    async def detach(self, conn: Connection, *, disconnected: bool) -> None:
        """The socket leaves its café (a `leave` or a disconnection)."""
        actor, conn.actor = conn.actor, None
        invitation_id, login_rooms = conn.invitation_id, conn.login_rooms
        standing.untrack(conn)
        if actor is None:
            return
        await self._stop_media(conn, actor)
        if not disconnected and invitation_id is not None:
            await self.sio.leave_room(conn.sid, rooms.invitation_room(invitation_id),
                                      namespace=self.namespace)
        if not disconnected:
            for room in login_rooms:
                await self.sio.leave_room(conn.sid, room, namespace=self.namespace)
        if not disconnected:
            for room in rooms.rooms_for(actor.cafe_id, actor.participant_id, actor.role):
                await self.sio.leave_room(conn.sid, room, namespace=self.namespace)
        try:
            if await self.presence.remove(actor.cafe_id, actor.participant_id, conn.sid):
                self.presence_changes.left(actor.cafe_id, actor.participant_id)
        except BACKEND_ERRORS as exc:  # Redis away: removed when it is back
            self._lost_removals.append((actor.cafe_id, actor.participant_id, conn.sid))
            log.warning("presence removal deferred cafe=%s participant=%s: %s",
                        actor.cafe_id, actor.participant_id, type(exc).__name__)
        log.info("left cafe=%s participant=%s sid=%s", actor.cafe_id, actor.participant_id,
                 conn.sid)

    async def _stop_media(self, conn: Connection, actor: Actor) -> None:
        if self.media is None:
            return
        try:
            if conn.publishing:
                await self.media.unpublish(actor.cafe_id, actor.participant_id)
                await self.announce_slots(actor.cafe_id)
            if conn.subscribed:
                await self.media.unsubscribe(actor.cafe_id, actor.participant_id)
        except CauserieError as exc:
            log.info("media stop failed cafe=%s participant=%s: %s", actor.cafe_id,
                     actor.participant_id, exc)
        conn.publishing = conn.subscribed = False

    async def presence_recovered(self) -> None:
        """Redis is back after an outage: write again the departures it missed and every
        participant still connected here, and tell their cafés (`presence.changed`)."""
        lost, self._lost_removals = self._lost_removals, []
        for cafe_id, participant_id, sid in lost:
            if await self.presence.remove(cafe_id, participant_id, sid):
                self.presence_changes.left(cafe_id, participant_id)
        count = 0
        for conn in list(self.connections.values()):
            actor = conn.actor
            if actor is None:
                continue
            entry = conn.presence_entry(actor)
            await self.record_presence(conn, actor.cafe_id, entry)
            self.presence_changes.joined(actor.cafe_id, entry)
            count += 1
        log.info("presence written again sockets=%s departures=%s", count, len(lost))

    async def publishing(self, cafe_id: int) -> dict[str, Any]:
        """Who publishes what in a café (`media.tracks`, and the join ack's `media`)."""
        slots = self.media.slot_sources(cafe_id) if self.media is not None else {}
        kinds: dict[int, list[str]] = {}
        for slot, source in slots.items():
            if source is not None:
                kinds.setdefault(source, []).append("video" if slot == "video" else "audio")
        names = ({e.participant_id: e.pseudonym for e in await self.presence.members(cafe_id)}
                 if kinds else {})
        publishers = [{"participant_id": pid, "pseudonym": names.get(pid, ""),
                       "kinds": sorted(k)} for pid, k in sorted(kinds.items())]
        return {"publishers": publishers, "publishing": sorted(kinds), "slots": slots}

    async def announce_slots(self, cafe_id: int) -> None:
        """Tell the café that the set of published tracks changed (`media.tracks`)."""
        if self.media is None:
            return
        view = await self.publishing(cafe_id)
        await self.sio.emit("media.tracks", {"publishers": view["publishers"],
                                             "slots": view["slots"]},
                            room=rooms.cafe_room(cafe_id), namespace=self.namespace)
        speakers = {p["participant_id"]: p["pseudonym"] for p in view["publishers"]
                    if "audio" in p["kinds"]}
        for observer in self.observers:
            await self._observe(observer.publishers_changed(cafe_id, speakers), cafe_id)

    async def cafe_opened(self, cafe_id: int) -> None:
        for observer in self.observers:
            await self._observe(observer.cafe_opened(cafe_id), cafe_id)

    async def _observe(self, call: Awaitable[None], cafe_id: int) -> None:
        # A failing observer (the recorder) must never break the room's signaling.
        try:
            await call
        except Exception:
            log.exception("cafe observer failed cafe=%s", cafe_id)

    async def media_stopped(self, participant_id: int, reason: str) -> None:
        await self.sio.emit("media.stopped", {"reason": reason},
                            room=rooms.participant_room(participant_id), namespace=self.namespace)

    def local_participant(self, participant_id: int) -> list[Connection]:
        return [c for c in self.connections.values()
                if c.actor is not None and c.actor.participant_id == participant_id]

    # -- media commands, carried out on every process -------------------------------------

    async def carry_out(self, result: Effects | Iterable[Outbound]) -> None:
        """What a service returned: emit its events, then send its media commands to every
        process (`manager.LocalFanout.send_command`), each applying them to what it holds."""
        effects = Effects.of(result)
        await self.emit(effects.events)
        for command in effects.commands:
            await self.sio.manager.send_command(to_wire(command))

    async def on_command(self, data: dict[str, Any]) -> None:
        """A media command reached this process (sent by it or another one): apply it to
        the participant's sockets and media here, if they are here."""
        command = from_wire(data)
        if command is None:
            return
        cafe_id, participant_id = command.cafe_id, command.participant_id
        local = [c for c in self.local_participant(participant_id)
                 if c.actor is not None and c.actor.cafe_id == cafe_id]
        match command:
            case SetMuted(muted=muted):
                if self.media is not None:
                    await self.media.carry_out(command)
                if local and muted:
                    await self.media_stopped(participant_id, MediaReason.MUTED)
            case StopPublication(reason=reason) | DisconnectMedia(reason=reason):
                if self.media is None:
                    return
                held = await self.media.carry_out(command)
                if held or local:  # the participant hears it where their sockets are
                    for conn in local:
                        conn.publishing = False
                        if isinstance(command, DisconnectMedia):
                            conn.subscribed = False
                    await self.media_stopped(participant_id, reason)
                    await self.announce_slots(cafe_id)
            case BanAddress(minutes=minutes):
                # The address is the one this server sees (behind a reverse proxy, the one
                # it passes on); it goes to the database only, never to the logs.
                addresses = {c.request.remote for c in local
                             if c.request is not None and c.request.remote}
                for address in sorted(addresses):
                    await self.services().moderation.ban_address(cafe_id, participant_id,
                                                                 address, minutes)
            case DisconnectParticipant():
                # Spawned: the disconnection runs the socket's own `detach` (its media
                # closes there), which must not wait on the path that delivered this.
                if local:
                    self.spawn(self._disconnect_local([c.sid for c in local]))

    async def _disconnect_local(self, sids: Sequence[str]) -> None:
        for sid in sids:
            await self.sio.disconnect(sid, namespace=self.namespace)

    async def on_room_closed(self, room: str) -> None:
        """A café's rooms are closed (it ended): its sockets here are no longer joined. An
        invitation's room is closed (revoked): its sockets here lose their staff role."""
        invitation_id = rooms.invitation_of_room(room)
        if invitation_id is not None:
            await standing.invitation_closed(self, invitation_id)
            return
        if rooms.is_login_room(room):
            await standing.login_closed(self, room)
            return
        prefix, _, rest = room.partition(":")
        if prefix != "cafe" or not rest.isdigit():
            return
        cafe_id = int(rest)
        self.peaks.forget(cafe_id)
        for conn in list(self.connections.values()):
            actor = conn.actor
            if actor is not None and actor.cafe_id == cafe_id:
                conn.actor = None
                standing.untrack(conn)
                conn.publishing = conn.subscribed = False
                await self.sio.leave_room(conn.sid, rooms.participant_room(actor.participant_id),
                                          namespace=self.namespace)
        if self.media is not None:
            await self.media.close_cafe(cafe_id)
        try:
            await self.placement.release(cafe_id)
        except BACKEND_ERRORS as exc:  # the node's entry goes when its heartbeat does
            log.warning("media release failed cafe=%s: %s", cafe_id, type(exc).__name__)
        for observer in self.observers:
            await self._observe(observer.cafe_closed(cafe_id), cafe_id)

    async def require_media_here(self, cafe_id: int) -> None:
        """Refuse a media event for a café whose media another process holds (a page
        loaded before the café moved, or a proxy that did not route by `?node=`)."""
        node = await self.placement.node_for(cafe_id)
        if node != self.placement.node_id:
            log.info("media elsewhere cafe=%s here=%s node=%s", cafe_id,
                     self.placement.node_id, node)
            raise MediaElsewhere()

    def spawn(self, coro: Any) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

