"""Who is in a café, shared by every server process: twins behind one interface.

`MemoryPresence` (one process) and `RedisPresence` (several processes, `redis_url` set) keep,
per café, each participant's public entry and the socket ids of that participant (a person
may have several tabs; presence lists them once). The socket ids let a process address a
participant's sockets on other processes (exclusions, disconnection on removal).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["MemoryPresence", "PresenceEntry", "PresenceStore", "RedisPresence"]


@dataclass(frozen=True, slots=True)
class PresenceEntry:
    participant_id: int
    pseudonym: str
    role: str

    def view(self) -> dict[str, Any]:
        return {"participant_id": self.participant_id, "pseudonym": self.pseudonym,
                "role": self.role}


class PresenceStore(Protocol):
    async def add(self, cafe_id: int, entry: PresenceEntry, sid: str) -> bool:
        """Record a socket; True when it is the participant's first one in the café."""

    async def remove(self, cafe_id: int, participant_id: int, sid: str) -> bool:
        """Forget a socket; True when it was the participant's last one."""

    async def members(self, cafe_id: int) -> list[PresenceEntry]:
        """Participants present, in order of participant id."""

    async def sids(self, cafe_id: int, participant_ids: Sequence[int]) -> list[str]:
        """Every socket of these participants."""

    async def clear(self, cafe_id: int) -> None:
        """The café ended: forget everyone."""

    async def close(self) -> None: ...


class MemoryPresence:
    def __init__(self) -> None:
        self._entries: dict[int, dict[int, PresenceEntry]] = {}
        self._sids: dict[tuple[int, int], set[str]] = {}

    async def add(self, cafe_id: int, entry: PresenceEntry, sid: str) -> bool:
        self._entries.setdefault(cafe_id, {})[entry.participant_id] = entry
        sids = self._sids.setdefault((cafe_id, entry.participant_id), set())
        first = not sids
        sids.add(sid)
        return first

    async def remove(self, cafe_id: int, participant_id: int, sid: str) -> bool:
        sids = self._sids.get((cafe_id, participant_id))
        if sids is None or sid not in sids:
            return False
        sids.discard(sid)
        if sids:
            return False
        del self._sids[(cafe_id, participant_id)]
        self._entries.get(cafe_id, {}).pop(participant_id, None)
        return True

    async def members(self, cafe_id: int) -> list[PresenceEntry]:
        entries = self._entries.get(cafe_id, {})
        return [entries[k] for k in sorted(entries)]

    async def sids(self, cafe_id: int, participant_ids: Sequence[int]) -> list[str]:
        return [s for p in participant_ids for s in sorted(self._sids.get((cafe_id, p), ()))]

    async def clear(self, cafe_id: int) -> None:
        self._entries.pop(cafe_id, None)
        for key in [k for k in self._sids if k[0] == cafe_id]:
            del self._sids[key]

    async def close(self) -> None:
        return None


# KEYS[1] entries hash, KEYS[2] the participant's sid set; ARGV: pid, entry json, sid.
_ADD = """
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
local added = redis.call('SADD', KEYS[2], ARGV[3])
local n = redis.call('SCARD', KEYS[2])
return (added == 1 and n == 1) and 1 or 0
"""
_REMOVE = """
if redis.call('SREM', KEYS[2], ARGV[2]) == 0 then return 0 end
if redis.call('SCARD', KEYS[2]) > 0 then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
return 1
"""


class RedisPresence:
    """The same on Redis: a hash per café (participant id -> entry JSON) and a set of socket
    ids per participant; additions and removals are atomic Lua scripts."""

    def __init__(self, redis_url: str, prefix: str = "causerie:presence") -> None:
        import redis.asyncio as aioredis

        self._redis: Any = aioredis.Redis.from_url(redis_url, decode_responses=True)
        self._prefix = prefix
        self._add = self._redis.register_script(_ADD)
        self._remove = self._redis.register_script(_REMOVE)

    def _entries_key(self, cafe_id: int) -> str:
        return f"{self._prefix}:{cafe_id}"

    def _sids_key(self, cafe_id: int, participant_id: int) -> str:
        return f"{self._prefix}:{cafe_id}:sids:{participant_id}"

    async def add(self, cafe_id: int, entry: PresenceEntry, sid: str) -> bool:
        value = json.dumps({"pseudonym": entry.pseudonym, "role": entry.role})
        keys = [self._entries_key(cafe_id), self._sids_key(cafe_id, entry.participant_id)]
        return bool(await self._add(keys=keys, args=[entry.participant_id, value, sid]))

    async def remove(self, cafe_id: int, participant_id: int, sid: str) -> bool:
        keys = [self._entries_key(cafe_id), self._sids_key(cafe_id, participant_id)]
        return bool(await self._remove(keys=keys, args=[participant_id, sid]))

    async def members(self, cafe_id: int) -> list[PresenceEntry]:
        raw: dict[str, str] = await self._redis.hgetall(self._entries_key(cafe_id))
        entries = []
        for pid, value in raw.items():
            data = json.loads(value)
            entries.append(PresenceEntry(int(pid), str(data["pseudonym"]), str(data["role"])))
        return sorted(entries, key=lambda e: e.participant_id)

    async def sids(self, cafe_id: int, participant_ids: Sequence[int]) -> list[str]:
        if not participant_ids:
            return []
        async with self._redis.pipeline(transaction=False) as pipe:
            for pid in participant_ids:
                pipe.smembers(self._sids_key(cafe_id, pid))
            results: list[set[str]] = await pipe.execute()
        return [s for members in results for s in sorted(members)]

    async def clear(self, cafe_id: int) -> None:
        keys = [self._entries_key(cafe_id)]
        async for key in self._redis.scan_iter(match=f"{self._prefix}:{cafe_id}:sids:*"):
            keys.append(key)
        await self._redis.delete(*keys)

    async def close(self) -> None:
        await self._redis.aclose()
