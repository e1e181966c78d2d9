"""Which process (media node) holds a café's media: twins behind one interface.

Several `causerie serve` processes share the cafés through Redis, but a café's WebRTC media
(its publishers, subscribers, recorder, programme) lives in one process. Each process with a
`cluster.node_id` announces itself in Redis (a heartbeat with a TTL); the first time a café's
media node is asked for (its room page, a `media.*` event), the least-loaded live node is
chosen and written under the café; it stays until the café ends or the node's heartbeat
expires (the next ask then moves the café to a live node). The proxy routes a request that
carries `?node=<id>` to that node (docs/deploy/nginx.conf); the room page puts its café's node
in its socket.io URL, so every socket of a café reaches the process that holds its media.

- `choose_node` is the pure rule: fewest cafés, then the smallest id.
- `SingleNode`: no cluster (one process, or no Redis): every café is here.
- `MemoryPlacement`: the same rules as Redis in one process (tests, and the twin).
- `RedisPlacement`: keys `<prefix>:nodes` (a sorted set: node -> heartbeat expiry),
  `<prefix>:cafe:<id>` (the node) and `<prefix>:load:<node>` (a set of café ids). The
  choice and the write are one Lua script, so two processes asked at once agree.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping
from typing import Any, Protocol

__all__ = ["MemoryPlacement", "Placement", "RedisPlacement", "SingleNode", "choose_node"]

log = logging.getLogger("causerie.signaling.placement")


def choose_node(loads: Mapping[str, int]) -> str | None:
    """The live node to give a new café: the fewest cafés, then the smallest id."""
    if not loads:
        return None
    return min(loads, key=lambda node: (loads[node], node))


class Placement(Protocol):
    node_id: str

    async def node_for(self, cafe_id: int) -> str:
        """The café's media node, chosen now if it has none (or a dead one); "" when there
        is no cluster (every café is on this process)."""

    async def release(self, cafe_id: int) -> None:
        """The café ended: forget its node (only the node that holds it does)."""

    async def beat(self) -> None:
        """Announce this node alive for another TTL."""

    async def close(self) -> None: ...


class SingleNode:
    node_id = ""

    async def node_for(self, cafe_id: int) -> str:
        return ""

    async def release(self, cafe_id: int) -> None:
        return None

    async def beat(self) -> None:
        return None

    async def close(self) -> None:
        return None


class MemoryPlacement:
    """Nodes of one process sharing a `shared` dict (a test stands several up)."""

    def __init__(self, node_id: str, shared: dict[str, Any] | None = None, *,
                 ttl: float = 15.0) -> None:
        self.node_id = node_id
        self.ttl = ttl
        self.state: dict[str, Any] = shared if shared is not None else {}
        self.state.setdefault("nodes", {})
        self.state.setdefault("cafes", {})

    def _alive(self) -> dict[str, int]:
        now = time.monotonic()
        cafes: dict[int, str] = self.state["cafes"]
        alive = [n for n, expiry in self.state["nodes"].items() if expiry > now]
        return {n: sum(1 for held in cafes.values() if held == n) for n in alive}

    async def node_for(self, cafe_id: int) -> str:
        alive = self._alive()
        current = self.state["cafes"].get(cafe_id)
        if current in alive:
            return str(current)
        chosen = choose_node(alive) or self.node_id
        self.state["cafes"][cafe_id] = chosen
        return chosen

    async def release(self, cafe_id: int) -> None:
        if self.state["cafes"].get(cafe_id) == self.node_id:
            del self.state["cafes"][cafe_id]

    async def beat(self) -> None:
        self.state["nodes"][self.node_id] = time.monotonic() + self.ttl

    async def close(self) -> None:
        self.state["nodes"].pop(self.node_id, None)


# KEYS[1] nodes zset, KEYS[2] the café's key; ARGV[1] now, ARGV[2] load prefix, ARGV[3] café
_ASSIGN = """
local current = redis.call('GET', KEYS[2])
if current then
  local expiry = redis.call('ZSCORE', KEYS[1], current)
  if expiry and tonumber(expiry) > tonumber(ARGV[1]) then return current end
  redis.call('SREM', ARGV[2] .. current, ARGV[3])
end
local alive = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. ARGV[1], '+inf')
local best, best_load = false, 0
for _, node in ipairs(alive) do
  local load = redis.call('SCARD', ARGV[2] .. node)
  if not best or load < best_load or (load == best_load and node < best) then
    best, best_load = node, load
  end
end
if not best then return false end
redis.call('SET', KEYS[2], best)
redis.call('SADD', ARGV[2] .. best, ARGV[3])
return best
"""

# KEYS[1] the café's key; ARGV[1] this node, ARGV[2] load prefix, ARGV[3] café
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('SREM', ARGV[2] .. ARGV[1], ARGV[3])
  return 1
end
return 0
"""


class RedisPlacement:
    def __init__(self, redis_url: str, node_id: str, *, ttl: float = 15.0,
                 prefix: str = "causerie:media") -> None:
        import redis.asyncio as aioredis

        self.node_id = node_id
        self.ttl = ttl
        self.prefix = prefix
        self.redis: Any = aioredis.Redis.from_url(redis_url, decode_responses=True)
        self._assign: Any = self.redis.register_script(_ASSIGN)
        self._release: Any = self.redis.register_script(_RELEASE)
        self._beating: asyncio.Task[None] | None = None

    @property
    def _nodes_key(self) -> str:
        return f"{self.prefix}:nodes"

    def _cafe_key(self, cafe_id: int) -> str:
        return f"{self.prefix}:cafe:{cafe_id}"

    async def node_for(self, cafe_id: int) -> str:
        node = await self._assign(keys=[self._nodes_key, self._cafe_key(cafe_id)],
                                  args=[time.time(), f"{self.prefix}:load:", cafe_id])
        if not node:  # no node alive (Redis flushed): this one takes it
            await self.beat()
            return self.node_id
        return str(node)

    async def release(self, cafe_id: int) -> None:
        released = await self._release(keys=[self._cafe_key(cafe_id)],
                                       args=[self.node_id, f"{self.prefix}:load:", cafe_id])
        if released:
            log.info("media released cafe=%s node=%s", cafe_id, self.node_id)

    async def beat(self) -> None:
        await self.redis.zadd(self._nodes_key, {self.node_id: time.time() + self.ttl})

    def start(self) -> None:
        self._beating = asyncio.ensure_future(self._beat_forever())

    async def _beat_forever(self) -> None:
        while True:
            try:
                await self.beat()
            except Exception as exc:  # Redis away: the next beat tries again
                log.warning("media node heartbeat failed node=%s: %s", self.node_id,
                            type(exc).__name__)
            await asyncio.sleep(self.ttl / 3)

    async def close(self) -> None:
        if self._beating is not None:
            self._beating.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._beating
        with contextlib.suppress(Exception):
            await self.redis.zrem(self._nodes_key, self.node_id)
        await self.redis.aclose()
