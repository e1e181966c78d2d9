"""The login throttle: failed logins only, per address and per account, with a growing delay
instead of a lockout.

Each failure counts against the address and the e-mail it tried (for `WINDOW` seconds). The
first `FREE` failures cost nothing; after that each one holds the next attempt back for
`2**(n - FREE)` seconds, at most `MAX_DELAY`: guessing stays slow, and ten wrong passwords
cost the real organiser seconds, not hours. A successful login clears the account's and the
address's counts. An address that has logged in to an account before is not held back by
that account's failures (only by its own), so failures sent from elsewhere cannot keep an
organiser out of their own account.

Counters live in the `limits` library's storage: in memory, or Redis when `redis_url` is
set, so every process sees the same counts.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from typing import Any

from limits.storage import storage_from_string

from sessions.errors import RateLimited

log = logging.getLogger("causerie.auth")

FREE = 5
MAX_DELAY = 30
WINDOW = 15 * 60
KNOWN_FOR = 30 * 24 * 3600


class LoginThrottle:
    def __init__(self, redis_url: str = "", *, free: int = FREE, max_delay: int = MAX_DELAY,
                 window: int = WINDOW) -> None:
        self._pool: Any = None
        if redis_url:
            import redis.asyncio

            self._pool = redis.asyncio.ConnectionPool.from_url(redis_url)
            uri = redis_url if redis_url.startswith("async+") else f"async+{redis_url}"
            self._storage: Any = storage_from_string(
                uri, implementation="redispy", key_prefix="causerie-login",
                connection_pool=self._pool)
        else:
            self._storage = storage_from_string("async+memory://")
        self.free, self.max_delay, self.window = free, max_delay, window

    async def check(self, address: str, account: str) -> None:
        """Raise `RateLimited` (with the seconds to wait) while a hold is on."""
        keys = [_key("address", address)]
        if not await self._storage.get(_key("known", account, address)):
            keys.append(_key("account", account))
        wait = 0.0
        for key in keys:
            if await self._storage.get(f"hold:{key}"):
                wait = max(wait, await self._storage.get_expiry(f"hold:{key}") - time.time())
        if wait > 0:
            log.info("login held back seconds=%d", math.ceil(wait))
            raise RateLimited("Too many failed logins; try again in %(seconds)s seconds.",
                              seconds=max(1, math.ceil(wait)))

    async def failed(self, address: str, account: str) -> None:
        for key in (_key("address", address), _key("account", account)):
            count = await self._storage.incr(f"fail:{key}", self.window)
            if count > self.free:
                delay = min(self.max_delay, 2 ** (count - self.free - 1))
                await self._storage.clear(f"hold:{key}")
                await self._storage.incr(f"hold:{key}", delay)

    async def succeeded(self, address: str, account: str) -> None:
        for key in (_key("address", address), _key("account", account)):
            await self._storage.clear(f"fail:{key}")
            await self._storage.clear(f"hold:{key}")
        await self._storage.clear(_key("known", account, address))
        await self._storage.incr(_key("known", account, address), KNOWN_FOR)

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.disconnect()


def _key(kind: str, *parts: str) -> str:
    # Hashed: no e-mail address or IP in Redis keys.
    digest = hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:32]
    return f"{kind}:{digest}"
