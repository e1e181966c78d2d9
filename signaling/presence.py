"""Who is in a café, shared by every server process: twins behind one interface.

`MemoryPresence` (one process) and `signaling.presence_redis.RedisPresence` (several
processes, `redis_url` set) keep,
per café, each participant's public entry and the socket ids of that participant (a person
may have several tabs; presence lists them once). The socket ids let a process address a
participant's sockets on other processes (exclusions, disconnection on removal).

Each store also keeps, per café, the parents present (participant ids, each once however
many tabs) and the running maximum of their number: the café's attendance peak
(`sessions.attendance` says who counts). `add` returns it in the same round trip (on Redis,
in the same script, so processes sharing a café count one number); `signaling.peaks`
decides when it reaches the database. Nothing per person outlives the café (`clear`).

`PresenceBatcher` coalesces a café's arrivals and departures into one `presence.changed`
diff at most every `interval` seconds: a café of N people filling up costs N/interval
broadcasts per second instead of one per arrival (N^2 deliveries).

Staff see everyone. The audience sees everyone only while the café has at most `list_limit`
people (`audience_list`, `audience_diff`); beyond, the staff and the number present. Two
reasons: a parent at a café about harassment need not read the pseudonyms of a thousand
strangers, and a list that every newcomer receives and every arrival extends costs the
square of the café (2,000 joins carried 120 MB of presence in acks alone, and as much
again in diffs: a join storm of 2,000 took 3 s of one core instead of about 1).

`RedisPresence` outlives a crashed process (its module says how).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sessions.attendance import PARENT_ROLES
from signaling import rooms

__all__ = ["STAFF_ROLES", "Arrival", "MemoryPresence", "PresenceBatcher", "PresenceEntry",
           "PresenceStore", "StaleHook", "audience_diff", "counts_as_parent", "encode_entries",
           "flagged_terms", "unmarked"]

log = logging.getLogger("causerie.signaling")

# the roles every member of a café sees in presence, however large it is
STAFF_ROLES = frozenset(role.value for role in rooms.STAFF_ROLES)

# (cafe_id, participant_id): a participant that left without saying so (a dead process)
StaleHook = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class PresenceEntry:
    participant_id: int
    pseudonym: str
    role: str
    # The watched words that flag the pseudonym (`sessions.watchwords`): for the eyes of
    # moderators and organisers only (`marked_view`); no other view carries them.
    flagged: tuple[str, ...] = ()

    def view(self) -> dict[str, Any]:
        return {"participant_id": self.participant_id, "pseudonym": self.pseudonym,
                "role": self.role}

    def marked_view(self) -> dict[str, Any]:
        """What moderators and organisers see: the entry, marked when a watched word flags
        the pseudonym (`watch`, as on a flagged chat message)."""
        view = self.view()
        if self.flagged:
            view["watch"] = {"action": "flag", "terms": list(self.flagged)}
        return view


PARENT_ROLE_VALUES = frozenset(role.value for role in PARENT_ROLES)


@dataclass(frozen=True, slots=True)
class Arrival:
    """What `add` did: `first`, the participant's first socket in the café; `peak`, the
    café's running maximum of parents present at once, this socket counted."""

    first: bool
    peak: int


def counts_as_parent(entry: PresenceEntry, parent: bool | None) -> bool:
    return entry.role in PARENT_ROLE_VALUES if parent is None else parent


def flagged_terms(watch: Mapping[str, Any] | None) -> tuple[str, ...]:
    """The terms of a join's flag (`Joined.watch`), for its presence entry."""
    if not watch or watch.get("action") != "flag":
        return ()
    return tuple(sorted(str(t) for t in watch.get("terms", ())))


def unmarked(diff: dict[str, Any]) -> dict[str, Any]:
    """A `presence.changed` diff without the watched-word marks (for everyone but the
    moderators and organisers); the diff itself when it has none."""
    if not any("watch" in e for e in diff["joined"]):
        return diff
    return {**diff, "joined": [{k: v for k, v in e.items() if k != "watch"}
                               for e in diff["joined"]]}


def encode_entries(members: Sequence[PresenceEntry], *, marked: bool = False) -> str:
    return json.dumps([e.marked_view() if marked else e.view() for e in members],
                      separators=(",", ":"))


def audience_diff(diff: dict[str, Any], limit: int) -> dict[str, Any]:
    """What the audience receives of a `presence.changed` diff (staff get `diff` itself):
    all of it while the café has at most `limit` people (`diff["count"]`), then the staff's
    arrivals only; a diff without a count (the store did not answer) is taken as large.
    Departures always go out (ids only): a parent listed while the café was small is
    taken off the list when they leave."""
    count = diff.get("count")
    if count is not None and count <= limit:
        return diff
    return {**diff, "joined": [e for e in diff["joined"] if e["role"] in STAFF_ROLES]}


class PresenceStore(Protocol):
    async def add(self, cafe_id: int, entry: PresenceEntry, sid: str, *,
                  parent: bool | None = None) -> Arrival:
        """Record a socket (again: its entry may change role); `parent`: whether the
        participant counts among the café's parents (None: by the entry's role)."""

    async def remove(self, cafe_id: int, participant_id: int, sid: str) -> bool:
        """Forget a socket; True when it was the participant's last one."""

    async def members(self, cafe_id: int) -> list[PresenceEntry]:
        """Participants present, in order of participant id."""

    async def members_json(self, cafe_id: int, *, marked: bool = False) -> str:
        """`members` as the JSON list of their views (the staff's join ack `presence`); with
        `marked`, their marked views (moderators and organisers)."""

    async def audience_json(self, cafe_id: int, limit: int) -> str:
        """The audience's join ack `presence`: `members_json` while at most `limit` people
        are present, else the staff's entries only."""

    async def count(self, cafe_id: int) -> int:
        """How many participants are present."""

    async def sids(self, cafe_id: int, participant_ids: Sequence[int]) -> list[str]:
        """Every socket of these participants."""

    async def present(self, cafe_id: int, participant_ids: Sequence[int]) -> set[int]:
        """Those of these participants who are in the café now."""

    async def peak(self, cafe_id: int) -> int:
        """The café's running maximum of parents present at once (0: none yet)."""

    async def clear(self, cafe_id: int) -> None:
        """The café ended: forget everyone, and its peak (written by then)."""

    async def close(self) -> None: ...


class MemoryPresence:
    def __init__(self) -> None:
        self._entries: dict[int, dict[int, PresenceEntry]] = {}
        self._sids: dict[tuple[int, int], set[str]] = {}
        # `members_json` per café, made again after a change; the staff's alone, likewise
        self._encoded: dict[int, str] = {}
        self._staff_encoded: dict[int, str] = {}
        self._marked_encoded: dict[int, str] = {}  # the moderators' (`marked_view`)
        # the parents present per café, and the most there were at once
        self._parents: dict[int, set[int]] = {}
        self._peaks: dict[int, int] = {}

    async def add(self, cafe_id: int, entry: PresenceEntry, sid: str, *,
                  parent: bool | None = None) -> Arrival:
        entries = self._entries.setdefault(cafe_id, {})
        previous = entries.get(entry.participant_id)
        if previous != entry:
            entries[entry.participant_id] = entry
            self._encoded.pop(cafe_id, None)
            self._marked_encoded.pop(cafe_id, None)
            if entry.role in STAFF_ROLES or (previous and previous.role in STAFF_ROLES):
                self._staff_encoded.pop(cafe_id, None)
        sids = self._sids.setdefault((cafe_id, entry.participant_id), set())
        first = not sids
        sids.add(sid)
        parents = self._parents.setdefault(cafe_id, set())
        if counts_as_parent(entry, parent):
            parents.add(entry.participant_id)
        else:
            parents.discard(entry.participant_id)
        peak = max(self._peaks.get(cafe_id, 0), len(parents))
        self._peaks[cafe_id] = peak
        return Arrival(first, peak)

    async def remove(self, cafe_id: int, participant_id: int, sid: str) -> bool:
        sids = self._sids.get((cafe_id, participant_id))
        if sids is None or sid not in sids:
            return False
        sids.discard(sid)
        if sids:
            return False
        del self._sids[(cafe_id, participant_id)]
        gone = self._entries.get(cafe_id, {}).pop(participant_id, None)
        self._parents.get(cafe_id, set()).discard(participant_id)
        self._encoded.pop(cafe_id, None)
        self._marked_encoded.pop(cafe_id, None)
        if gone is not None and gone.role in STAFF_ROLES:
            self._staff_encoded.pop(cafe_id, None)
        return True

    async def members(self, cafe_id: int) -> list[PresenceEntry]:
        entries = self._entries.get(cafe_id, {})
        return [entries[k] for k in sorted(entries)]

    async def members_json(self, cafe_id: int, *, marked: bool = False) -> str:
        cache = self._marked_encoded if marked else self._encoded
        encoded = cache.get(cafe_id)
        if encoded is None:
            encoded = encode_entries(await self.members(cafe_id), marked=marked)
            cache[cafe_id] = encoded
        return encoded

    async def audience_json(self, cafe_id: int, limit: int) -> str:
        if await self.count(cafe_id) <= limit:
            return await self.members_json(cafe_id)
        encoded = self._staff_encoded.get(cafe_id)
        if encoded is None:
            encoded = encode_entries([e for e in await self.members(cafe_id)
                               if e.role in STAFF_ROLES])
            self._staff_encoded[cafe_id] = encoded
        return encoded

    async def count(self, cafe_id: int) -> int:
        return len(self._entries.get(cafe_id, {}))

    async def sids(self, cafe_id: int, participant_ids: Sequence[int]) -> list[str]:
        return [s for p in participant_ids for s in sorted(self._sids.get((cafe_id, p), ()))]

    async def present(self, cafe_id: int, participant_ids: Sequence[int]) -> set[int]:
        entries = self._entries.get(cafe_id, {})
        return {p for p in participant_ids if p in entries}

    async def peak(self, cafe_id: int) -> int:
        return self._peaks.get(cafe_id, 0)

    async def clear(self, cafe_id: int) -> None:
        self._entries.pop(cafe_id, None)
        self._encoded.pop(cafe_id, None)
        self._marked_encoded.pop(cafe_id, None)
        self._parents.pop(cafe_id, None)
        self._peaks.pop(cafe_id, None)
        self._staff_encoded.pop(cafe_id, None)
        for key in [k for k in self._sids if k[0] == cafe_id]:
            del self._sids[key]

    async def close(self) -> None:
        return None


# -- coalescing presence changes -------------------------------------------------------------

# (cafe_id, the moderators' diff): the hub sends it to the moderators and organisers,
# `unmarked` of it to the rest of the staff, and `audience_diff` of that to the others
Emit = Callable[[int, dict[str, Any]], Awaitable[None]]
Spawn = Callable[[Any], None]


class PresenceBatcher:
    """Collects a café's arrivals (`joined`) and departures (`left`) and emits them as one
    `presence.changed` `{"joined": [entry, ...], "left": [participant_id, ...], "count": n}`
    at most every `interval` seconds (the first change after a quiet interval goes out at
    once); `count` is the number present after the change.

    A participant's last change in a batch wins. Before emitting, the store is asked who is
    present: a change another process reversed meanwhile (left here, came back there) is
    dropped rather than sent out of order."""

    def __init__(self, store: PresenceStore, emit: Emit, spawn: Spawn,
                 interval: float = 0.3) -> None:
        self._store = store
        self._emit = emit
        self._spawn = spawn
        self.interval = interval
        self._pending: dict[int, dict[int, PresenceEntry | None]] = {}
        self._last: dict[int, float] = {}
        self._scheduled: set[int] = set()

    def joined(self, cafe_id: int, entry: PresenceEntry) -> None:
        self._pending.setdefault(cafe_id, {})[entry.participant_id] = entry
        self._schedule(cafe_id)

    def left(self, cafe_id: int, participant_id: int) -> None:
        self._pending.setdefault(cafe_id, {})[participant_id] = None
        self._schedule(cafe_id)

    def forget(self, cafe_id: int) -> None:
        """The café ended: drop what was not sent yet."""
        self._pending.pop(cafe_id, None)
        self._last.pop(cafe_id, None)

    def _schedule(self, cafe_id: int) -> None:
        if cafe_id in self._scheduled:
            return
        self._scheduled.add(cafe_id)
        delay = max(0.0, self._last.get(cafe_id, 0.0) + self.interval - time.monotonic())
        self._spawn(self._flush_later(cafe_id, delay))

    async def _flush_later(self, cafe_id: int, delay: float) -> None:
        try:
            await asyncio.sleep(delay)
        finally:
            self._scheduled.discard(cafe_id)
        await self.flush(cafe_id)

    async def flush(self, cafe_id: int) -> None:
        changes = self._pending.pop(cafe_id, None)
        if not changes:
            return
        self._last[cafe_id] = time.monotonic()
        try:
            present = await self._store.present(cafe_id, list(changes))
        except Exception as exc:  # Redis away: send the changes as they are (it comes back
            # with `Hub.presence_recovered`, which announces everyone again)
            log.warning("presence check skipped cafe=%s: %s", cafe_id, type(exc).__name__)
            present = {pid for pid, e in changes.items() if e is not None}
        joined = [e.marked_view() for pid, e in sorted(changes.items())
                  if e is not None and pid in present]
        left = [pid for pid, e in sorted(changes.items()) if e is None and pid not in present]
        if not (joined or left):
            return
        diff: dict[str, Any] = {"joined": joined, "left": left}
        try:
            diff["count"] = await self._store.count(cafe_id)
        except Exception as exc:  # as above; the diff goes out without a count
            log.warning("presence count skipped cafe=%s: %s", cafe_id, type(exc).__name__)
        await self._emit(cafe_id, diff)
