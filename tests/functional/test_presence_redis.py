"""`RedisPresence` against the real Redis: two "processes" share a café; one dies without
cleaning up; once its heartbeat expires the other sweeps its entries and reports them. The
café's attendance peak on both twins (memory, and Redis shared by two processes)."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis

from signaling.presence import MemoryPresence, PresenceEntry, PresenceStore
from signaling.presence_redis import RedisPresence

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


@pytest.mark.redis
async def test_a_dead_process_entries_are_swept(prefix: str) -> None:
    alive = RedisPresence(REDIS_URL, prefix, process_id="alive", heartbeat_ttl=0.6)
    dead = RedisPresence(REDIS_URL, prefix, process_id="dead", heartbeat_ttl=0.6)
    stale: list[tuple[int, int]] = []
    alive.on_stale = lambda cafe, participant: stale.append((cafe, participant))
    try:
        marie, paul = PresenceEntry(1, "Marie", "participant"), PresenceEntry(2, "Paul", "expert")
        assert (await alive.add(5, marie, "sid-a")).first is True
        assert (await dead.add(5, paul, "sid-b")).first is True
        assert (await dead.add(5, marie, "sid-c")).first is False  # her second tab, on `dead`
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


@pytest.mark.redis
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


async def test_the_peak_counts_parents_once_in_memory() -> None:
    store = MemoryPresence()
    await _peak_scenario(store, store)


@pytest.mark.redis
async def test_the_peak_counts_parents_once_across_redis_processes(prefix: str) -> None:
    one = RedisPresence(REDIS_URL, prefix, process_id="one", heartbeat_ttl=5)
    two = RedisPresence(REDIS_URL, prefix, process_id="two", heartbeat_ttl=5)
    try:
        await _peak_scenario(one, two)
    finally:
        await one.close()
        await two.close()


async def _peak_scenario(one: PresenceStore, two: PresenceStore) -> None:
    """The same café seen by two processes (one memory store stands for both)."""
    marie, paul = PresenceEntry(1, "Marie", "participant"), PresenceEntry(2, "Paul", "participant")
    modo, expert = PresenceEntry(3, "Modo", "moderator"), PresenceEntry(4, "Expert", "expert")
    jeanne = PresenceEntry(5, "Jeanne", "participant")
    assert await one.peak(7) == 0
    assert (await one.add(7, modo, "m1")).peak == 0  # staff do not count
    assert (await two.add(7, expert, "e1")).peak == 0
    assert (await one.add(7, marie, "a1")).peak == 1
    assert (await two.add(7, marie, "a2")).peak == 1  # her second tab, on the other process
    assert (await two.add(7, paul, "p1")).peak == 2
    assert await one.remove(7, 1, "a1") is False  # one tab closed: still there
    assert (await one.add(7, jeanne, "j1")).peak == 3
    assert await two.remove(7, 1, "a2") is True
    assert await two.remove(7, 2, "p1") is True
    # one parent left of three: the peak stays, and a comer does not raise it
    assert (await one.add(7, paul, "p2")).peak == 3
    assert await one.peak(7) == await two.peak(7) == 3
    # a demoted moderator stays a parent but is not counted (the hub says `parent=False`)
    demoted = PresenceEntry(3, "Modo", "participant")
    assert (await one.add(7, demoted, "m1", parent=False)).first is False
    assert (await two.add(7, marie, "a3")).peak == 3  # Jeanne, Paul, Marie: three again
    assert (await two.add(7, PresenceEntry(6, "Luc", "participant"), "l1")).peak == 4
    assert await one.peak(8) == 0  # per café
    await two.clear(7)
    assert await one.peak(7) == 0 and await one.members(7) == []
    assert (await one.add(7, marie, "a4")).peak == 1  # nothing left of the cleared count


@pytest.mark.redis
async def test_a_dead_process_parents_leave_the_count_not_the_peak(prefix: str) -> None:
    alive = RedisPresence(REDIS_URL, prefix, process_id="alive", heartbeat_ttl=0.6)
    dead = RedisPresence(REDIS_URL, prefix, process_id="dead", heartbeat_ttl=0.6)
    try:
        for pid in range(1, 4):
            await dead.add(5, PresenceEntry(pid, f"P{pid}", "participant"), f"d{pid}")
        assert (await alive.add(5, PresenceEntry(9, "Marie", "participant"), "a")).peak == 4
        assert dead._beating is not None
        dead._beating.cancel()
        await asyncio.sleep(1.2)  # swept by `alive`
        assert [e.pseudonym for e in await alive.members(5)] == ["Marie"]
        assert await alive.peak(5) == 4  # what was, stays
        # the three are no longer counted: two comers make three present, not six
        for pid in (10, 11):
            arrival = await alive.add(5, PresenceEntry(pid, f"P{pid}", "participant"), f"a{pid}")
        assert arrival.peak == 4
        for pid in (12, 13):
            arrival = await alive.add(5, PresenceEntry(pid, f"P{pid}", "participant"), f"a{pid}")
        assert arrival.peak == 5
    finally:
        await dead.close()
        await alive.close()


@pytest.mark.redis
async def test_a_flagged_pseudonym_is_shared_for_moderators_only(prefix: str) -> None:
    """The watched words that flag a pseudonym travel with its entry between processes;
    the café's views never carry them, the moderators' marked view does (as in
    `MemoryPresence`)."""
    one = RedisPresence(REDIS_URL, prefix, process_id="one", heartbeat_ttl=5)
    other = RedisPresence(REDIS_URL, prefix, process_id="other", heartbeat_ttl=5)
    memory = MemoryPresence()
    try:
        flagged = PresenceEntry(4, "Gros nounours", "participant", ("nounours",))
        plain = PresenceEntry(5, "Lucie", "participant")
        for store in (one, memory):
            await store.add(2, flagged, "s1")
            await store.add(2, plain, "s2")
        for store in (other, memory):
            assert await store.members(2) == [flagged, plain]
            public = json.loads(await store.members_json(2))
            assert public == [flagged.view(), plain.view()] and "watch" not in str(public)
            for limit in (1, 50):  # a large café's audience list, and a small one's
                assert "watch" not in await store.audience_json(2, limit)
            staff = json.loads(await store.members_json(2, marked=True))
            assert staff[0]["watch"] == {"action": "flag", "terms": ["nounours"]}
            assert "watch" not in staff[1]
    finally:
        await one.close()
        await other.close()
