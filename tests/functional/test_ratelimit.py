"""The rate limiter, in memory and on a real Redis (shared counters between processes)."""

from __future__ import annotations

import os
import uuid

import pytest

from sessions.errors import RateLimited
from sessions.ratelimit import RateLimiter

REDIS_URL = os.environ.get("CAUSERIE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


async def test_memory_limiter_counts_per_key() -> None:
    limiter = RateLimiter()
    for _ in range(3):
        await limiter.hit("a", 3, per="minute", message="Slow down.")
    with pytest.raises(RateLimited, match="Slow down"):
        await limiter.hit("a", 3, per="minute", message="Slow down.")
    await limiter.hit("b", 3, per="minute", message="Slow down.")  # another key
    await limiter.reset()
    await limiter.hit("a", 3, per="minute", message="Slow down.")


@pytest.mark.redis
async def test_redis_limiter_is_shared_between_instances() -> None:
    first, second = RateLimiter(REDIS_URL), RateLimiter(REDIS_URL)
    key = f"test:{uuid.uuid4().hex}"
    try:
        try:
            await first.hit(key, 2, per="minute", message="Slow down.")
        except Exception as exc:  # connection refused: no Redis here (a failure in CI)
            if IN_CI:
                raise
            pytest.skip(f"Redis is not reachable: {exc}")
        await second.hit(key, 2, per="minute", message="Slow down.")
        with pytest.raises(RateLimited):
            await first.hit(key, 2, per="minute", message="Slow down.")
    finally:
        await first.close()
        await second.close()
