"""`RedisPresence`: the presence store of several processes (`redis_url` set), the twin of
`signaling.presence.MemoryPresence` behind the same `PresenceStore` interface.

It outlives a crashed process: each process has an id and a heartbeat key with a TTL, and
records its sockets under that id; every live process sweeps the entries of the processes
whose heartbeat expired (and reports those participants as gone, `on_stale`). When Redis
comes back after an outage (a heartbeat failed, or found its own key gone), `on_recovered`
lets the process write its connected participants again. The café's parents present and
their running maximum (the attendance peak) are kept by the same scripts as the entries.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from signaling.presence import (
    STAFF_ROLES,
    Arrival,
    PresenceEntry,
    StaleHook,
    counts_as_parent,
    encode_entries,
)

__all__ = ["RedisPresence"]

log = logging.getLogger("causerie.signaling")


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
        value = json.dumps({"pseudonym": entry.pseudonym, "role": entry.role}
                           | ({"flagged": list(entry.flagged)} if entry.flagged else {}))
        keys = [self._entries_key(cafe_id), self._sids_key(cafe_id, entry.participant_id),
                self._sockets_key(self.process_id), self._staff_key(cafe_id),
                self._parents_key(cafe_id), self._peak_key(cafe_id)]
        record = f"{cafe_id}:{entry.participant_id}:{sid}"
        staff = "1" if entry.role in STAFF_ROLES else "0"
        counted = "1" if counts_as_parent(entry, parent) else "0"
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
            entries.append(PresenceEntry(int(pid), str(data["pseudonym"]), str(data["role"]),
                                         tuple(str(t) for t in data.get("flagged", ()))))
        return sorted(entries, key=lambda e: e.participant_id)

    async def members_json(self, cafe_id: int, *, marked: bool = False) -> str:
        return encode_entries(await self.members(cafe_id), marked=marked)

    async def audience_json(self, cafe_id: int, limit: int) -> str:
        if await self.count(cafe_id) <= limit:
            return await self.members_json(cafe_id)
        return encode_entries(await self._entries(self._staff_key(cafe_id)))

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
