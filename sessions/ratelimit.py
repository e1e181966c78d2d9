"""Rate limits: a thin wrapper over the `limits` library, injected into the services.

In memory by default (one process); on Redis when given a `redis://` URL, so that several
processes share the counters. Moving windows: "3 questions per minute" means any 60 s. The
amounts are the services' (`sessions.settings.Limits`).
"""

from __future__ import annotations

import logging
from typing import Any, Literal

from limits import RateLimitItemPerMinute, RateLimitItemPerSecond
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string

from sessions.errors import RateLimited, Unavailable

log = logging.getLogger("causerie.ratelimit")


class RateLimiter:
    """Counts actions per key; `hit` raises `RateLimited` when the window is full."""

    def __init__(self, redis_url: str = "") -> None:
        self._pool: Any = None
        self._backend_errors: tuple[type[Exception], ...] = (OSError,)
        if redis_url:
            import redis.asyncio  # only when asked for: the default needs no Redis client
            from limits.errors import StorageError

            self._backend_errors = (OSError, redis.exceptions.RedisError, StorageError)

            # Our own pool, so that `close` can release its connections.
            self._pool = redis.asyncio.ConnectionPool.from_url(
                redis_url, socket_timeout=2, socket_connect_timeout=2)
            uri = redis_url if redis_url.startswith("async+") else f"async+{redis_url}"
            self._storage: Any = storage_from_string(
                uri, implementation="redispy", key_prefix="causerie",
                connection_pool=self._pool)
        else:
            self._storage = storage_from_string("async+memory://")
        self._limiter = MovingWindowRateLimiter(self._storage)

    async def hit(self, key: str, amount: int, *, per: Literal["second", "minute"],
                  message: str) -> None:
        """Count one action under `key` against `amount` per `per` ("second" or "minute")."""
        item = RateLimitItemPerSecond(amount) if per == "second" else RateLimitItemPerMinute(amount)
        try:
            allowed = await self._limiter.hit(item, key)
        except self._backend_errors as exc:  # the shared store (Redis) is not there
            log.warning("rate limiter unavailable key=%s: %s", key, type(exc).__name__)
            raise Unavailable() from exc
        if not allowed:
            log.info("rate limited key=%s", key)
            raise RateLimited(message)

    async def reset(self) -> None:
        await self._storage.reset()

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.disconnect()
