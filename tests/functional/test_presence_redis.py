"""`RedisPresence` against the real Redis: two "processes" share a café; one dies without
cleaning up; once its heartbeat expires the other sweeps its entries and reports them."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis

from signaling.presence import PresenceEntry, RedisPresence

pytestmark = pytest.mark.redis

REDIS_URL = os.environ.get("CAUSERIE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def service_missing(what: str, why: object) -> None:
    """As `tests/conftest.py`: skip locally, fail in CI."""
    message = f"{what} is not reachable: {why}"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
async def prefix() -> AsyncIterator[str]:
    """A key prefix of its own, deleted afterwards."""
    client: Any = aioredis.Redis.from_url(REDIS_URL)
    try:
        await client.ping()
    except Exception as exc:
        await client.aclose()
        service_missing("Redis", exc)
    name = f"test:presence:{secrets.token_hex(4)}"
    yield name
    keys = [k async for k in client.scan_iter(match=f"{name}:*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


async def test_a_dead_process_entries_are_swept(prefix: str) -> None:
    alive = RedisPresence(REDIS_URL, prefix, process_id="alive", heartbeat_ttl=0.6)
    dead = RedisPresence(REDIS_URL, prefix, process_id="dead", heartbeat_ttl=0.6)
    stale: list[tuple[int, int]] = []
    alive.on_stale = lambda cafe, participant: stale.append((cafe, participant))
    try:
        marie, paul = PresenceEntry(1, "Marie", "participant"), PresenceEntry(2, "Paul", "expert")
        assert await alive.add(5, marie, "sid-a") is True
        assert await dead.add(5, paul, "sid-b") is True
        assert await dead.add(5, marie, "sid-c") is False  # Marie's second tab, on `dead`
        assert [e.pseudonym for e in await alive.members(5)] == ["Marie", "Paul"]
        assert await alive.present(5, [1, 2, 3]) == {1, 2}
        # the process dies: it stops beating and never removes its sockets
        assert dead._beating is not None
        dead._beating.cancel()
        assert await alive.sweep() == []  # its heartbeat is still there
        await asyncio.sleep(1.2)  # TTL expired; `alive` swept it on one of its beats
        assert [e.pseudonym for e in await alive.members(5)] == ["Marie"]
        assert stale == [(5, 2)]  # Paul is gone; Marie still has her socket on `alive`
        assert await alive.sids(5, [1, 2]) == ["sid-a"]
        assert await alive.sweep() == []  # nothing twice
        # `alive` keeps beating: its own entries stay
        await asyncio.sleep(0.7)
        assert await alive.present(5, [1]) == {1}
    finally:
        await dead.close()
        await alive.close()


async def test_a_clean_close_leaves_no_process_keys(prefix: str) -> None:
    presence = RedisPresence(REDIS_URL, prefix, process_id="p1", heartbeat_ttl=5)
    entry = PresenceEntry(3, "Jeanne", "participant")
    await presence.add(9, entry, "s1")
    assert await presence.remove(9, 3, "s1") is True
    await presence.close()
    client: Any = aioredis.Redis.from_url(REDIS_URL, decode_responses=True)
    try:
        assert [k async for k in client.scan_iter(match=f"{prefix}:process*")] == []
    finally:
        await client.aclose()
