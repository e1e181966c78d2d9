"""Who is in a café, shared by every server process: twins behind one interface.

`MemoryPresence` (one process) and `RedisPresence` (several processes, `redis_url` set) keep,
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

`RedisPresence` outlives a crashed process: each process has an id and a heartbeat key with a
TTL, and records its sockets under that id; every live process sweeps the entries of the
processes whose heartbeat expired (and reports those participants as gone). When Redis comes
back after an outage (a heartbeat failed, or found its own key gone), `on_recovered` lets the
process write its connected participants again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sessions.attendance import PARENT_ROLES
from signaling import rooms

__all__ = ["STAFF_ROLES", "Arrival", "MemoryPresence", "PresenceBatcher", "PresenceEntry",
           "PresenceStore", "RedisPresence", "audience_diff"]

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

    def view(self) -> dict[str, Any]:
        return {"participant_id": self.participant_id, "pseudonym": self.pseudonym,
                "role": self.role}


PARENT_ROLE_VALUES = frozenset(role.value for role in PARENT_ROLES)


@dataclass(frozen=True, slots=True)
class Arrival:
    """What `add` did: `first`, the participant's first socket in the café; `peak`, the
    café's running maximum of parents present at once, this socket counted."""

    first: bool
    peak: int


def _counts(entry: PresenceEntry, parent: bool | None) -> bool:
    return entry.role in PARENT_ROLE_VALUES if parent is None else parent


def _encode(members: Sequence[PresenceEntry]) -> str:
    return json.dumps([e.view() for e in members], separators=(",", ":"))


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

    async def members_json(self, cafe_id: int) -> str:
        """`members` as the JSON list of their views (the staff's join ack `presence`)."""

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
            if entry.role in STAFF_ROLES or (previous and previous.role in STAFF_ROLES):
                self._staff_encoded.pop(cafe_id, None)
        sids = self._sids.setdefault((cafe_id, entry.participant_id), set())
        first = not sids
        sids.add(sid)
        parents = self._parents.setdefault(cafe_id, set())
        if _counts(entry, parent):
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
        if gone is not None and gone.role in STAFF_ROLES:
            self._staff_encoded.pop(cafe_id, None)
        return True

    async def members(self, cafe_id: int) -> list[PresenceEntry]:
        entries = self._entries.get(cafe_id, {})
        return [entries[k] for k in sorted(entries)]

    async def members_json(self, cafe_id: int) -> str:
        encoded = self._encoded.get(cafe_id)
        if encoded is None:
            encoded = _encode(await self.members(cafe_id))
            self._encoded[cafe_id] = encoded
        return encoded

    async def audience_json(self, cafe_id: int, limit: int) -> str:
        if await self.count(cafe_id) <= limit:
            return await self.members_json(cafe_id)
        encoded = self._staff_encoded.get(cafe_id)
        if encoded is None:
            encoded = _encode([e for e in await self.members(cafe_id)
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
        self._parents.pop(cafe_id, None)
        self._peaks.pop(cafe_id, None)
        self._staff_encoded.pop(cafe_id, None)
        for key in [k for k in self._sids if k[0] == cafe_id]:
            del self._sids[key]

    async def close(self) -> None:
        return None


# KEYS[1] entries hash, KEYS[2] the participant's sid set, KEYS[3] the process's socket set,
# KEYS[4] the staff's entries hash, KEYS[5] the café's set of parents present, KEYS[6] the
# café's peak; ARGV: pid, entry json, sid, the socket's record in KEYS[3]
# ("cafe:participant:sid"), "1" for a staff entry, "1" for a parent who counts.
# Returns {first socket (1/0), peak}.
_ADD = """
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
if ARGV[5] == '1' then redis.call('HSET', KEYS[4], ARGV[1], ARGV[2])
else redis.call('HDEL', KEYS[4], ARGV[1]) end
local added = redis.call('SADD', KEYS[2], ARGV[3])
redis.call('SADD', KEYS[3], ARGV[4])
local n = redis.call('SCARD', KEYS[2])
if ARGV[6] == '1' then redis.call('SADD', KEYS[5], ARGV[1])
else redis.call('SREM', KEYS[5], ARGV[1]) end
local present = redis.call('SCARD', KEYS[5])
local peak = tonumber(redis.call('GET', KEYS[6]) or '0')
if present > peak then
  redis.call('SET', KEYS[6], present)
  peak = present
end
return {(added == 1 and n == 1) and 1 or 0, peak}
"""
# KEYS[1..5] as _ADD; ARGV: pid, sid, the socket's record.
_REMOVE = """
redis.call('SREM', KEYS[3], ARGV[3])
if redis.call('SREM', KEYS[2], ARGV[2]) == 0 then return 0 end
if redis.call('SCARD', KEYS[2]) > 0 then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[4], ARGV[1])
redis.call('SREM', KEYS[5], ARGV[1])
return 1
"""


class RedisPresence:
    """The same on Redis: a hash per café (participant id -> entry JSON) and a set of socket
    ids per participant; additions and removals are atomic Lua scripts. Per café also the
    set of parents present (`{prefix}:{cafe}:parents`) and their running maximum
    (`{prefix}:{cafe}:peak`), kept by the same scripts.

    Crashed processes: `{prefix}:processes` lists the process ids; `{prefix}:process:{id}` is
    a process's heartbeat (TTL `heartbeat_ttl`, renewed every third of it from its first
    `add`), `{prefix}:process:{id}:sockets` its sockets. Each beat also sweeps: the sockets of
    a process without heartbeat are removed as by `remove`, and `on_stale(cafe, participant)`
    is called for the participants who left with them."""

    def __init__(self, redis_url: str, prefix: str = "causerie:presence", *,
                 process_id: str | None = None, heartbeat_ttl: float = 15.0) -> None:
        import redis.asyncio as aioredis

        # Bounded waits: an unreachable Redis fails an action quickly (`unavailable`).
        self._redis: Any = aioredis.Redis.from_url(redis_url, decode_responses=True,
                                                   socket_timeout=2, socket_connect_timeout=2)
        self._prefix = prefix
        self._add = self._redis.register_script(_ADD)
        self._remove = self._redis.register_script(_REMOVE)
        self.process_id = process_id or uuid.uuid4().hex[:16]
        self.heartbeat_ttl = heartbeat_ttl
        self.on_stale: StaleHook | None = None
        # called once Redis answers again after a failed or lapsed heartbeat (`Hub`)
        self.on_recovered: Callable[[], Awaitable[None]] | None = None
        self.beat_interval = heartbeat_ttl / 3
        self._beating: asyncio.Task[None] | None = None

    # -- the process's heartbeat and the sweep of dead processes ---------------------------

    def _processes_key(self) -> str:
        return f"{self._prefix}:processes"

    def _heartbeat_key(self, process_id: str) -> str:
        return f"{self._prefix}:process:{process_id}"

    def _sockets_key(self, process_id: str) -> str:
        return f"{self._prefix}:process:{process_id}:sockets"

    async def beat(self) -> bool:
        """Renew this process's heartbeat; True when it had lapsed (expired while Redis was
        away, or Redis lost its data): this process's records may be gone."""
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.exists(self._heartbeat_key(self.process_id))
            pipe.set(self._heartbeat_key(self.process_id), str(time.time()),
                     px=int(self.heartbeat_ttl * 1000))
            pipe.sadd(self._processes_key(), self.process_id)
            existed, *_ = await pipe.execute()
        return not existed

    async def start(self) -> None:
        """Beat now, then every third of the TTL, sweeping dead processes each time
        (`add` starts it)."""
        if self._beating is None or self._beating.done():
            await self.beat()
            self._beating = asyncio.create_task(self._beat_forever())

    async def _beat_forever(self) -> None:
        failed = False
        while True:
            await asyncio.sleep(self.beat_interval)
            try:
                lapsed = await self.beat()
                if (lapsed or failed) and self.on_recovered is not None:
                    # Redis is back: what it lost or missed of this process is written again
                    log.warning("presence recovering process=%s lapsed=%s", self.process_id,
                                lapsed)
                    await self.on_recovered()
                failed = False
                await self.sweep()
            except Exception as exc:  # Redis away: try again at the next beat
                if not failed:
                    log.warning("presence heartbeat failed process=%s: %s", self.process_id,
                                type(exc).__name__)
                failed = True

    async def sweep(self) -> list[tuple[int, int]]:
        """Drop the sockets of every process whose heartbeat expired; return the
        (cafe, participant) pairs who left with them (also given to `on_stale`)."""
        gone: list[tuple[int, int]] = []
        processes: set[str] = await self._redis.smembers(self._processes_key())
        for process_id in sorted(processes - {self.process_id}):
            if await self._redis.exists(self._heartbeat_key(process_id)):
                continue
            if not await self._redis.srem(self._processes_key(), process_id):
                continue  # another process is sweeping it
            records: set[str] = await self._redis.smembers(self._sockets_key(process_id))
            for record in sorted(records):
                cafe, participant, sid = record.split(":", 2)
                cafe_id, participant_id = int(cafe), int(participant)
                keys = [self._entries_key(cafe_id), self._sids_key(cafe_id, participant_id),
                        self._sockets_key(process_id), self._staff_key(cafe_id),
                        self._parents_key(cafe_id)]
                if await self._remove(keys=keys, args=[participant_id, sid, record]):
                    gone.append((cafe_id, participant_id))
            await self._redis.delete(self._sockets_key(process_id))
            log.warning("presence swept dead process=%s sockets=%s participants=%s",
                        process_id, len(records), len(gone))
        if self.on_stale is not None:
            for cafe_id, participant_id in gone:
                self.on_stale(cafe_id, participant_id)
        return gone

    def _entries_key(self, cafe_id: int) -> str:
        return f"{self._prefix}:{cafe_id}"

    def _sids_key(self, cafe_id: int, participant_id: int) -> str:
        return f"{self._prefix}:{cafe_id}:sids:{participant_id}"

    def _staff_key(self, cafe_id: int) -> str:
        return f"{self._prefix}:{cafe_id}:staff"

    def _parents_key(self, cafe_id: int) -> str:
        return f"{self._prefix}:{cafe_id}:parents"

    def _peak_key(self, cafe_id: int) -> str:
        return f"{self._prefix}:{cafe_id}:peak"

    async def add(self, cafe_id: int, entry: PresenceEntry, sid: str, *,
                  parent: bool | None = None) -> Arrival:
        await self.start()
        value = json.dumps({"pseudonym": entry.pseudonym, "role": entry.role})
        keys = [self._entries_key(cafe_id), self._sids_key(cafe_id, entry.participant_id),
                self._sockets_key(self.process_id), self._staff_key(cafe_id),
                self._parents_key(cafe_id), self._peak_key(cafe_id)]
        record = f"{cafe_id}:{entry.participant_id}:{sid}"
        staff = "1" if entry.role in STAFF_ROLES else "0"
        counted = "1" if _counts(entry, parent) else "0"
        first, peak = await self._add(keys=keys, args=[entry.participant_id, value, sid,
                                                       record, staff, counted])
        return Arrival(bool(first), int(peak))

    async def remove(self, cafe_id: int, participant_id: int, sid: str) -> bool:
        keys = [self._entries_key(cafe_id), self._sids_key(cafe_id, participant_id),
                self._sockets_key(self.process_id), self._staff_key(cafe_id),
                self._parents_key(cafe_id)]
        record = f"{cafe_id}:{participant_id}:{sid}"
        return bool(await self._remove(keys=keys, args=[participant_id, sid, record]))

    async def members(self, cafe_id: int) -> list[PresenceEntry]:
        return await self._entries(self._entries_key(cafe_id))

    async def _entries(self, key: str) -> list[PresenceEntry]:
        raw: dict[str, str] = await self._redis.hgetall(key)
        entries = []
        for pid, value in raw.items():
            data = json.loads(value)
            entries.append(PresenceEntry(int(pid), str(data["pseudonym"]), str(data["role"])))
        return sorted(entries, key=lambda e: e.participant_id)

    async def members_json(self, cafe_id: int) -> str:
        return _encode(await self.members(cafe_id))

    async def audience_json(self, cafe_id: int, limit: int) -> str:
        if await self.count(cafe_id) <= limit:
            return await self.members_json(cafe_id)
        return _encode(await self._entries(self._staff_key(cafe_id)))

    async def count(self, cafe_id: int) -> int:
        return int(await self._redis.hlen(self._entries_key(cafe_id)))

    async def sids(self, cafe_id: int, participant_ids: Sequence[int]) -> list[str]:
        if not participant_ids:
            return []
        async with self._redis.pipeline(transaction=False) as pipe:
            for pid in participant_ids:
                pipe.smembers(self._sids_key(cafe_id, pid))
            results: list[set[str]] = await pipe.execute()
        return [s for members in results for s in sorted(members)]

    async def present(self, cafe_id: int, participant_ids: Sequence[int]) -> set[int]:
        if not participant_ids:
            return set()
        values: list[str | None] = await self._redis.hmget(self._entries_key(cafe_id),
                                                           list(participant_ids))
        return {p for p, v in zip(participant_ids, values, strict=True) if v is not None}

    async def peak(self, cafe_id: int) -> int:
        value: str | None = await self._redis.get(self._peak_key(cafe_id))
        return int(value) if value else 0

    async def clear(self, cafe_id: int) -> None:
        keys = [self._entries_key(cafe_id), self._staff_key(cafe_id),
                self._parents_key(cafe_id), self._peak_key(cafe_id)]
        async for key in self._redis.scan_iter(match=f"{self._prefix}:{cafe_id}:sids:*"):
            keys.append(key)
        await self._redis.delete(*keys)

    async def close(self) -> None:
        """Stop beating; this process's sockets are gone (a clean shutdown disconnects them
        first), so its heartbeat and records go too."""
        if self._beating is not None:
            self._beating.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._beating
            self._beating = None
            with contextlib.suppress(Exception):
                async with self._redis.pipeline(transaction=False) as pipe:
                    pipe.srem(self._processes_key(), self.process_id)
                    pipe.delete(self._heartbeat_key(self.process_id),
                                self._sockets_key(self.process_id))
                    await pipe.execute()
        await self._redis.aclose()


# -- coalescing presence changes -------------------------------------------------------------

# (cafe_id, the staff's diff): the hub sends it to the staff, `audience_diff` of it to others
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
        if isinstance(store, RedisPresence):
            store.on_stale = self.left

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
        joined = [e.view() for pid, e in sorted(changes.items())
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
