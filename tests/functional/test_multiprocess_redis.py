"""Two real server processes sharing one SQLite file and one Redis: a participant connected
to one sees the presence and the events of a participant on the other; the café's
attendance peak counts the parents of both, and one process dying before it wrote the
peak loses none of it."""

from __future__ import annotations

import asyncio
import os
import random
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from revocation_support import organiser, revoke_over_http
from signaling_fixtures import Peer, connect, invite, make_cafe

from sessions.cafe import Cafe
from sessions.clock import SystemClock
from sessions.roles import Role
from sessions.service_cafes import CafeService
from transcripts.search import open_database

pytestmark = pytest.mark.redis

REDIS_URL = os.environ.get("CAUSERIE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
TEST_SECRET = "test-secret-key-0123456789-abcdefghijklmnop"
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def service_missing(what: str, why: object) -> None:
    """As `tests/conftest.py`: skip locally, fail in CI."""
    message = f"{what} is not reachable: {why}"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_healthy(port: int, proc: subprocess.Popen[bytes], deadline: float) -> None:
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server on {port} exited: {proc.stdout and proc.stdout.read()!r}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"server on {port} did not start")


@pytest.fixture
def redis_url() -> str:
    """A Redis database of its own (pub/sub channels are per database, see `pubsub_channel`)."""
    base = REDIS_URL.rsplit("/", 1)[0]
    url = f"{base}/{random.randint(1, 15)}"

    async def ping() -> None:
        client: Any = aioredis.Redis.from_url(url)
        try:
            await client.ping()
        finally:
            await client.aclose()

    try:
        asyncio.run(ping())
    except Exception as exc:
        service_missing("Redis", exc)
    return url


@dataclass
class Cluster:
    database_url: str
    ports: list[int]
    procs: list[subprocess.Popen[bytes]]


@pytest.fixture
def servers(cluster: Cluster) -> tuple[str, list[int]]:
    return cluster.database_url, cluster.ports


@pytest.fixture
def cluster(tmp_path: Path, redis_url: str) -> Iterator[Cluster]:
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'causerie.db'}"
    env = {**os.environ, "CAUSERIE_DATA_DIR": str(tmp_path / "var"),
           "CAUSERIE_DATABASE_URL": database_url, "CAUSERIE_SECRET_KEY": TEST_SECRET,
           "CAUSERIE_REDIS_URL": redis_url, "CAUSERIE_LOG_LEVEL": "WARNING",
           "CAUSERIE_ICE__HOST_ADDRESSES": '["127.0.0.1"]'}
    command = [sys.executable, "-m", "server.cli"]
    subprocess.run([*command, "db", "upgrade"], env=env, check=True, capture_output=True)
    ports = [_free_port(), _free_port()]
    procs = [subprocess.Popen([*command, "serve", "--port", str(p)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
             for p in ports]
    try:
        deadline = time.monotonic() + 30
        for port, proc in zip(ports, procs, strict=True):
            _wait_healthy(port, proc, deadline)
        yield Cluster(database_url, ports, procs)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for proc in procs:
            if proc.stdout is not None:
                proc.stdout.close()


@pytest.fixture
async def cafe_and_invite(servers: tuple[str, list[int]]) -> AsyncIterator[tuple[Cafe, str]]:
    db = open_database(servers[0])
    cafes = CafeService(db, SystemClock(), TEST_SECRET)
    cafe = await make_cafe(cafes, live=True)
    token = await invite(cafes, cafe, Role.MODERATOR)
    yield cafe, token
    await db.close()


async def test_two_processes_share_presence_and_events(
        servers: tuple[str, list[int]], cafe_and_invite: tuple[Cafe, str]) -> None:
    _, (port1, port2) = servers
    cafe, token = cafe_and_invite
    url1, url2 = f"http://127.0.0.1:{port1}", f"http://127.0.0.1:{port2}"
    peers: list[Peer] = []
    try:
        moderator, marie, paul = await connect(url1), await connect(url1), await connect(url2)
        peers += [moderator, marie, paul]
        assert (await moderator.join(cafe, "Modo", invite=token))["ok"] is True
        assert (await marie.join(cafe, "Marie"))["ok"] is True
        ack = await paul.join(cafe, "Paul")
        assert ack["ok"] is True
        # presence lives in Redis: the process of Paul knows who joined on the other one
        assert [p["pseudonym"] for p in ack["presence"]] == ["Modo", "Marie", "Paul"]
        diff = await marie.presence_change(joined=ack["participant"]["id"])
        assert "Paul" in [e["pseudonym"] for e in diff["joined"]]

        assert (await paul.call("qa.ask", {"text": "Et les jeux en ligne ?"}))["ok"] is True
        pending = await moderator.next("qa.question")
        assert pending["status"] == "pending" and pending["author"] == "Paul"
        assert (await moderator.call("qa.approve", {"question_id": pending["id"]}))["ok"]
        public = await marie.next("qa.question")
        assert public["status"] == "approved"
        mine = await paul.next("qa.question", count=2)
        assert mine["mine"] is True and mine["status"] == "approved"
        await asyncio.sleep(0.2)
        # the author on the other process was excluded from the public copy
        assert len(paul.events["qa.question"]) == 2
        assert len(moderator.events["qa.question"]) == 2

        second = await connect(url2)
        peers.append(second)
        await second.join(cafe, "Jeanne")
        assert (await moderator.call("moderation.remove",
                                     {"participant_id": second.me["id"]}))["ok"] is True
        await asyncio.wait_for(second.disconnected.wait(), 5)
        await marie.presence_change(left=second.me["id"])

        await paul.close()
        await marie.presence_change(left=paul.me["id"])

        late = await connect(url2)
        peers.append(late)
        await late.join(cafe, "Late")
        assert (await moderator.call("cafe.end", {}))["ok"] is True
        assert (await late.next("cafe.status"))["status"] == "ended"
        after = await late.call("chat.send", {"text": "encore ?"})
        assert after["error"]["code"] == "not_joined"
    finally:
        for peer in peers:
            await peer.close()


async def test_revoking_on_one_process_ends_the_role_on_the_other(
        servers: tuple[str, list[int]]) -> None:
    """Finding 1 of issue 8 across processes: the organiser revokes on process 1, the
    moderator's sockets on process 2 lose the role within a second."""
    database_url, (port1, port2) = servers
    db = open_database(database_url)
    peers: list[Peer] = []
    try:
        cafes = CafeService(db, SystemClock(), TEST_SECRET)
        cafe = await make_cafe(cafes, live=True)
        email = await organiser(cafes)
        invitation = await cafes.invite(cafe.id, Role.MODERATOR)
        url1, url2 = f"http://127.0.0.1:{port1}", f"http://127.0.0.1:{port2}"
        moderator, parent = await connect(url2), await connect(url1)
        peers += [moderator, parent]
        await moderator.join(cafe, "Modo", invite=invitation.token)
        parent_id = (await parent.join(cafe, "Marie"))["participant"]["id"]

        # within a second of the revocation (the form's answer): `next` waits at most that
        await revoke_over_http(url1, email, cafe.slug, invitation.id)
        notice = await moderator.next("role.changed", wait=1)
        assert notice["reason"] == "revoked" and notice["role"] == "participant"
        ack = await moderator.call("moderation.ban", {"participant_id": parent_id})
        assert ack["error"]["code"] == "forbidden"
        assert (await moderator.call("cafe.end", {}))["error"]["code"] == "forbidden"
        assert (await parent.call("chat.send", {"text": "toujours là"}))["ok"] is True
    finally:
        for peer in peers:
            await peer.close()
        await db.close()


async def test_the_peak_counts_both_processes_and_outlives_one_dying(
        cluster: Cluster, redis_url: str) -> None:
    """Parents on both processes (one with a tab on each) make one peak; the process that
    saw it grow dies before its timer wrote it; its parents come back on the other one,
    which ends the café and writes the peak from Redis."""
    import sqlalchemy as sa

    from sessions.storage.tables import cafes as cafes_table

    db = open_database(cluster.database_url)
    url1, url2 = (f"http://127.0.0.1:{p}" for p in cluster.ports)
    peers: list[Peer] = []

    async def stored(cafe_id: int) -> int | None:
        async with db.connect() as conn:
            value = (await conn.execute(sa.select(cafes_table.c.peak_parents)
                                        .where(cafes_table.c.id == cafe_id))).scalar_one()
        return None if value is None else int(value)

    async def parent(url: str, name: str, key: str) -> Peer:
        peer = await connect(url)
        peers.append(peer)
        ack = await peer.join(cafe, name, browser_key=key)
        assert ack["ok"] is True, ack
        return peer

    try:
        cafes = CafeService(db, SystemClock(), TEST_SECRET)
        cafe = await make_cafe(cafes, live=True)
        moderator = await connect(url1)
        peers.append(moderator)
        token = await invite(cafes, cafe, Role.MODERATOR)
        assert (await moderator.join(cafe, "Modo", invite=token))["ok"] is True
        keys = {name: f"key-{name.lower()}-{random.randint(0, 10**9):09d}"
                for name in ("Marie", "Paul", "Ana", "Luc", "Jeanne")}
        started = time.monotonic()
        for name in ("Marie", "Paul", "Ana"):
            await parent(url1, name, keys[name])
        await parent(url2, "Marie", keys["Marie"])  # her second tab, on the other process
        for name in ("Luc", "Jeanne"):
            await parent(url2, name, keys[name])
        cluster.procs[1].kill()  # before its timer (5 s) wrote 5
        cluster.procs[1].wait(10)
        before = await stored(cafe.id)
        # Luc and Jeanne come back on process 1 (the same browsers: the same parents)
        for name in ("Luc", "Jeanne"):
            await parent(url1, name, keys[name])
        assert (await moderator.call("cafe.end", {}))["ok"] is True
        elapsed = time.monotonic() - started
        assert await stored(cafe.id) == 5  # Marie once, staff not counted
        if elapsed < 4.5:  # no timer could have written it: the end did, from Redis
            assert before is not None and before < 5, before
        client: Any = aioredis.Redis.from_url(redis_url, decode_responses=True)
        try:
            assert not await client.exists(f"causerie:presence:{cafe.id}:peak",
                                           f"causerie:presence:{cafe.id}:parents")
        finally:
            await client.aclose()
    finally:
        for peer in peers:
            await peer.close()
        await db.close()
