"""Which node holds a café's media: the Redis placement and its in-memory twin follow the
same rules (least-loaded live node, kept until the café ends or the node dies)."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from typing import Any

import pytest
import test_multiprocess_redis as multiprocess

from signaling.placement import MemoryPlacement, Placement, RedisPlacement, choose_node

redis_url = multiprocess.redis_url  # the fixture: a Redis database of this test's own


def test_choose_node_takes_the_least_loaded_then_the_smallest_id() -> None:
    assert choose_node({}) is None
    assert choose_node({"n2": 0, "n1": 0}) == "n1"
    assert choose_node({"n1": 3, "n2": 1, "n3": 1}) == "n2"


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def backend(request: pytest.FixtureRequest) -> str:
    """"" for the in-memory twin, else a Redis URL."""
    return "" if request.param == "memory" else str(request.getfixturevalue("redis_url"))


@pytest.fixture
async def nodes(backend: str) -> AsyncIterator[tuple[Any, Any]]:
    if not backend:
        shared: dict[str, Any] = {}
        yield MemoryPlacement("n1", shared), MemoryPlacement("n2", shared)
        return
    url = backend
    prefix = f"causerie:test-media:{random.randrange(10**9)}"
    one, two = RedisPlacement(url, "n1", prefix=prefix), RedisPlacement(url, "n2", prefix=prefix)
    yield one, two
    await two.redis.delete(*[k async for k in two.redis.scan_iter(f"{prefix}:*")] or ["-"])
    await one.close()
    await two.close()


async def test_cafes_spread_over_live_nodes_and_move_off_a_dead_one(
        nodes: tuple[Placement, Placement]) -> None:
    one, two = nodes
    await one.beat()
    await two.beat()
    assert await two.node_for(1) == "n1"  # asked on n2, given to the least-loaded
    assert await one.node_for(2) == "n2"
    assert await one.node_for(1) == "n1" and await two.node_for(2) == "n2"  # kept
    assert await one.node_for(3) == "n1"

    await two.release(1)  # only the holder releases
    assert await two.node_for(1) == "n1"
    await one.release(1)
    assert await two.node_for(1) == "n1"  # n1 holds 3, n2 holds 2: the tie to the smaller
    await one.close()  # n1 gone (heartbeat withdrawn): its cafés move on the next ask
    assert await two.node_for(3) == "n2"
