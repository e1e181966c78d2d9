"""A large café's presence (`signaling.presence`): beyond `presence_list_limit` people, the
audience sees the staff and the number present, never the other parents; staff see everyone.
The two stores (`MemoryPresence`, `RedisPresence`) behind one interface, and the real app
with socket.io clients."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from signaling_fixtures import Live, invite, make_cafe

from server.app import create_app
from server.config import ConfigError, load_config
from signaling.keys import HUB
from signaling.presence import (
    MemoryPresence,
    PresenceEntry,
    PresenceStore,
    audience_diff,
)
from signaling.presence_redis import RedisPresence

REDIS_URL = os.environ.get("CAUSERIE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}

MARIE = PresenceEntry(1, "Marie", "participant")
PAUL = PresenceEntry(2, "Paul", "participant")
EXPERT = PresenceEntry(3, "Dr Martin", "expert")
MODERATOR = PresenceEntry(4, "Modération", "moderator")


# -- the pure rule -----------------------------------------------------------------------------

def test_a_small_cafe_audience_gets_the_whole_diff() -> None:
    diff = {"joined": [MARIE.view(), EXPERT.view()], "left": [9], "count": 3}
    assert audience_diff(diff, 3) is diff


def test_a_large_cafe_audience_gets_staff_arrivals_every_departure_and_the_count() -> None:
    diff = {"joined": [MARIE.view(), EXPERT.view(), PAUL.view()], "left": [9, 10], "count": 4}
    assert audience_diff(diff, 3) == {"joined": [EXPERT.view()], "left": [9, 10], "count": 4}
    assert diff["joined"] == [MARIE.view(), EXPERT.view(), PAUL.view()]  # not changed


def test_a_diff_without_count_is_taken_as_large() -> None:
    diff = {"joined": [MARIE.view(), MODERATOR.view()], "left": []}
    assert audience_diff(diff, 100) == {"joined": [MODERATOR.view()], "left": []}


def test_a_limit_of_zero_never_lists_parents_to_parents() -> None:
    assert audience_diff({"joined": [PAUL.view()], "left": [], "count": 1}, 0)["joined"] == []


# -- the two stores ------------------------------------------------------------------------------

@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[PresenceStore]:
    if request.param == "memory":
        yield MemoryPresence()
        return
    client: Any = aioredis.Redis.from_url(REDIS_URL)
    try:
        await client.ping()
    except Exception as exc:
        await client.aclose()
        if IN_CI:
            pytest.fail(f"Redis is not reachable: {exc}")
        pytest.skip(f"Redis is not reachable: {exc}")
    prefix = f"test:presence:{secrets.token_hex(4)}"
    redis_store = RedisPresence(REDIS_URL, prefix, heartbeat_ttl=5)
    yield redis_store
    await redis_store.close()
    keys = [k async for k in client.scan_iter(match=f"{prefix}:*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


async def names(store: PresenceStore, cafe: int, limit: int) -> list[str]:
    import json

    return [e["pseudonym"] for e in json.loads(await store.audience_json(cafe, limit))]


async def test_audience_list_follows_the_limit_and_staff_changes(store: PresenceStore) -> None:
    assert await store.count(5) == 0
    assert await names(store, 5, 2) == []
    await store.add(5, MARIE, "s1")
    await store.add(5, EXPERT, "s2")
    assert await store.count(5) == 2
    assert await names(store, 5, 2) == ["Marie", "Dr Martin"]  # small: everyone
    await store.add(5, PAUL, "s3")
    await store.add(5, PAUL, "s4")  # Paul's second tab: still three people
    assert await store.count(5) == 3
    assert await names(store, 5, 2) == ["Dr Martin"]  # large: the staff only
    await store.add(5, MODERATOR, "s5")  # a staff arrival is seen at once (no stale list)
    assert await names(store, 5, 2) == ["Dr Martin", "Modération"]
    assert await store.remove(5, 3, "s2") is True
    assert await names(store, 5, 2) == ["Modération"]
    # a participant who becomes staff (promoted on rejoin) and back
    await store.add(5, PresenceEntry(1, "Marie", "moderator"), "s1")
    assert await names(store, 5, 2) == ["Marie", "Modération"]
    await store.add(5, MARIE, "s1")
    assert await names(store, 5, 2) == ["Modération"]
    # members (the staff's list) is everyone, whatever the size
    assert [e.pseudonym for e in await store.members(5)] == ["Marie", "Paul", "Modération"]
    await store.clear(5)
    assert await store.count(5) == 0
    assert await names(store, 5, 0) == []


# -- the real app ---------------------------------------------------------------------------------

async def test_a_large_cafe_shows_parents_the_staff_and_a_count(live: Live) -> None:
    live.app[HUB].presence_list_limit = 2
    cafe = await make_cafe(live.cafes, live=True)
    moderator = await live.peer()
    mod_ack = await moderator.join(cafe, "Modé", invite=await invite(live.cafes, cafe,
                                                                      _role("moderator")))
    assert mod_ack["participant"]["role"] == "moderator"
    marie = await live.peer()
    ack = await marie.join(cafe, "Marie")
    # two people: a small café, the list is everyone's
    assert [p["pseudonym"] for p in ack["presence"]] == ["Modé", "Marie"]
    assert ack["presence_count"] == 2
    paul, jeanne = await live.peer(), await live.peer()
    paul_ack = await paul.join(cafe, "Paul")
    assert [p["pseudonym"] for p in paul_ack["presence"]] == ["Modé"]  # 3 > 2: staff only
    assert paul_ack["presence_count"] == 3
    jeanne_ack = await jeanne.join(cafe, "Jeanne")
    jeanne_id = jeanne_ack["participant"]["id"]
    # the moderator is told of every arrival, with the count
    diff = await moderator.presence_change(joined=jeanne_id)
    assert diff["count"] == 4
    assert {p["participant_id"] for p in mod_ack["presence"]} | set(
        moderator.presence_ids("joined")) >= {paul_ack["participant"]["id"], jeanne_id}
    # Marie is told the number, never Jeanne's or Paul's pseudonym
    await asyncio.sleep(0.8)
    seen = [e["pseudonym"] for d in marie.events["presence.changed"] for e in d["joined"]]
    assert "Jeanne" not in seen and "Paul" not in seen
    assert marie.events["presence.changed"][-1]["count"] == 4
    # an expert arriving is seen by everyone
    expert = await live.peer()
    expert_ack = await expert.join(cafe, "Dr Martin",
                                   invite=await invite(live.cafes, cafe, _role("expert")))
    diff = await marie.presence_change(joined=expert_ack["participant"]["id"])
    assert diff["count"] == 5
    assert [p["pseudonym"] for p in expert_ack["presence"]] == [
        "Modé", "Marie", "Paul", "Jeanne", "Dr Martin"]  # staff see everyone
    # a departure reaches the audience as an id
    await jeanne.close()
    diff = await marie.presence_change(left=jeanne_id)
    assert diff["count"] == 4 and diff["joined"] == []
    # the moderator still sees Jeanne's departure and everyone else
    diff = await moderator.presence_change(left=jeanne_id)
    assert diff["count"] == 4


def test_the_limit_comes_from_the_config(tmp_path: Path, sqlite_url: str,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    app = create_app(load_config(data_dir=tmp_path / "var", database_url=sqlite_url,
                                 secret_key="s" * 32, presence_list_limit=7))
    assert app[HUB].presence_list_limit == 7
    assert load_config().presence_list_limit == 50
    monkeypatch.setenv("CAUSERIE_PRESENCE_LIST_LIMIT", "0")
    assert load_config().presence_list_limit == 0
    with pytest.raises(ConfigError, match="presence_list_limit"):
        load_config(presence_list_limit=-1)


def _role(name: str) -> Any:
    from sessions.roles import Role

    return Role(name)
