"""Redis goes away and comes back (finding 10 of issue 8): a private redis-server that the
test starts, kills and starts again (never the shared one). While it is away, an action
that needs it acks `unavailable` (not `error`); once it is back, presence holds again the
participants still connected, without them doing anything."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from signaling_fixtures import Live, invite, make_cafe

from server.config import Config, load_config
from sessions.roles import Role
from signaling.keys import HUB
from signaling.presence_redis import RedisPresence

pytestmark = [
    pytest.mark.redis,
    # python-socketio 5.18's AsyncRedisManager makes a new Redis client at each reconnection
    # and drops the old one with its socket open (`_redis_connect`); the garbage collector
    # then reports those sockets. Closing them here would also cut the pub/sub listener that
    # shares their pool, so the warning of that library leak is let through in this test.
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
UNAVAILABLE = {"code": "unavailable", "message": "Le service est temporairement indisponible."}


def service_missing(what: str, why: object) -> None:
    """As `tests/conftest.py`: skip locally, fail in CI."""
    message = f"{what} is not reachable: {why}"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


class PrivateRedis:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            service_missing("redis-server", "no redis-server program")
        assert binary is not None
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.directory)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("the private redis-server did not start")

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path)
    server.start()
    yield server
    server.kill()


@pytest.fixture
def config(tmp_path: Path, sqlite_url: str, private_redis: PrivateRedis) -> Config:
    """The app of `tests/conftest.py`, on the private Redis."""
    return load_config(data_dir=tmp_path / "var", database_url=sqlite_url,
                       secret_key="test-secret-key-0123456789-abcdefghijklmnop",
                       ice={"host_addresses": ["127.0.0.1"]}, redis_url=private_redis.url)


async def stored_presence(url: str, cafe_id: int) -> set[int]:
    client: Any = aioredis.Redis.from_url(url, decode_responses=True)
    try:
        return {int(p) for p in await client.hkeys(f"causerie:presence:{cafe_id}")}
    finally:
        await client.aclose()


async def test_redis_away_acks_unavailable_and_presence_comes_back(
        live: Live, private_redis: PrivateRedis) -> None:
    presence = live.app[HUB].presence
    assert isinstance(presence, RedisPresence)
    presence.beat_interval = 0.3  # the heartbeat's period (it starts at the first join)
    cafe = await make_cafe(live.cafes, live=True)
    modo, marie, paul = await live.peer(), await live.peer(), await live.peer()
    await modo.join(cafe, "Modo", invite=await invite(live.cafes, cafe, Role.MODERATOR))
    await marie.join(cafe, "Marie")
    await paul.join(cafe, "Paul")
    ids = {p.me["id"] for p in (modo, marie, paul)}
    assert await stored_presence(private_redis.url, cafe.id) == ids

    private_redis.kill()
    for event, payload in [("qa.ask", {"text": "Et le soir ?"}), ("chat.send", {"text": "allô"}),
                           ("qa.vote", {"question_id": 1})]:
        ack = await marie.call(event, payload)
        assert ack == {"ok": False, "error": UNAVAILABLE}, (event, ack)
    newcomer = await live.peer()
    assert (await newcomer.join(cafe, "Jeanne")) == {"ok": False, "error": UNAVAILABLE}
    assert (await newcomer.call("chat.send", {"text": "x"}))["error"]["code"] == "not_joined"
    assert (await paul.call("leave", {}))["ok"] is True  # leaves here; Redis told later
    await asyncio.sleep(1)  # several failed heartbeats

    private_redis.start()  # empty: everything it held is lost
    deadline = time.monotonic() + 5
    expected = {modo.me["id"], marie.me["id"]}
    while await stored_presence(private_redis.url, cafe.id) != expected:
        assert time.monotonic() < deadline, await stored_presence(private_redis.url, cafe.id)
        await asyncio.sleep(0.1)
    late = await live.peer()
    ack = await late.join(cafe, "Late")
    assert {p["pseudonym"] for p in ack["presence"]} == {"Modo", "Marie", "Late"}
    assert (await marie.call("qa.ask", {"text": "Et le soir ?"}))["ok"] is True
