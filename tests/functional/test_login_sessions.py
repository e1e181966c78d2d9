"""Organiser logins are kept on the server (issue 8, finding 6): after logout or a password
change, the old cookie opens no admin page and joins no café as organiser. Real browsers'
cookie jars over HTTP, a real socket.io client, and each store (memory, SQLite, PostgreSQL,
Redis) behind the one interface."""

from __future__ import annotations

import os
import re
import uuid
from datetime import timedelta
from typing import Any, cast

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from page_support import PASSWORD
from signaling_fixtures import Live, make_cafe

from server.auth import create_organiser
from server.keys import CLOCK
from server.login_sessions import (
    DatabaseLoginStore,
    LoginStore,
    MemoryLoginStore,
    RedisLoginStore,
)
from sessions.clock import FixedClock
from sessions.storage.database import Database
from transcripts.search import open_database

EMAIL = "orga@example.org"
REDIS_URL = os.environ.get("CAUSERIE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


class Browser:
    """One browser: its own cookie jar, the real forms."""

    def __init__(self, url: str) -> None:
        self.http = aiohttp.ClientSession(url.rstrip("/"),
                                          cookie_jar=aiohttp.CookieJar(unsafe=True))

    async def token(self, path: str) -> str:
        found = re.search(r'name="csrf_token" value="([^"]+)"',
                          await (await self.http.get(path)).text())
        assert found, path
        return found.group(1)

    async def login(self, password: str = PASSWORD) -> int:
        response = await self.http.post("/login", data={
            "email": EMAIL, "password": password, "csrf_token": await self.token("/login")},
            allow_redirects=False)
        return response.status

    async def post(self, path: str, **data: str) -> int:
        form = "/admin" if path == "/logout" else path  # the page the form is on
        response = await self.http.post(path, data={"csrf_token": await self.token(form),
                                                    **data}, allow_redirects=False)
        return response.status

    def cookie(self) -> str:
        return next(c.value for c in self.http.cookie_jar if c.key == "causerie_session")

    async def close(self) -> None:
        await self.http.close()


async def admin_status(url: str, cookie: str) -> int:
    """GET /admin with only this cookie, as a copy of it would be used."""
    async with aiohttp.ClientSession() as anyone:
        response = await anyone.get(url.rstrip("/") + "/admin", allow_redirects=False,
                                    headers={"Cookie": f"causerie_session={cookie}"})
        return response.status


async def join_role(live: Live, cookie: str) -> str:
    cafe = await make_cafe(live.cafes, live=True)
    peer = await live.peer(headers={"Cookie": f"causerie_session={cookie}"})
    ack = await peer.join(cafe, "Quelqu’un")
    assert ack["ok"], ack
    return str(ack["participant"]["role"])


async def test_logout_ends_the_session_for_pages_and_the_room(live: Live) -> None:
    await create_organiser(live.cafes, EMAIL, "Claire", PASSWORD)
    browser = Browser(live.url)
    try:
        assert await browser.login() == 303
        cookie = browser.cookie()
        assert await admin_status(live.url, cookie) == 200
        assert await join_role(live, cookie) == "organiser"
        assert await browser.post("/logout") == 303
        assert await admin_status(live.url, cookie) == 303  # to /login
        assert await join_role(live, cookie) == "participant"
    finally:
        await browser.close()


async def test_password_change_ends_every_login_of_the_organiser(live: Live) -> None:
    await create_organiser(live.cafes, EMAIL, "Claire", PASSWORD)
    laptop, phone = Browser(live.url), Browser(live.url)
    try:
        assert await laptop.login() == 303 and await phone.login() == 303
        old_laptop, old_phone = laptop.cookie(), phone.cookie()
        assert await laptop.post("/admin/password", current="not the password",
                                 new="a new long password") == 403
        assert await admin_status(live.url, old_phone) == 200  # a wrong current password: nothing
        assert await laptop.post("/admin/password", current=PASSWORD, new="short") == 400
        assert await laptop.post("/admin/password", current=PASSWORD,
                                 new="a new long password") == 303
        for cookie in (old_laptop, old_phone):
            assert await admin_status(live.url, cookie) == 303
            assert await join_role(live, cookie) == "participant"
        assert await admin_status(live.url, laptop.cookie()) == 200  # logged in again at once
        assert await phone.login() == 401
        assert await phone.login("a new long password") == 303
    finally:
        await laptop.close()
        await phone.close()


async def test_a_login_expires_on_the_server(live: Live) -> None:
    await create_organiser(live.cafes, EMAIL, "Claire", PASSWORD)
    browser = Browser(live.url)
    try:
        assert await browser.login() == 303
        clock = live.app[CLOCK]
        assert isinstance(clock, FixedClock)
        clock.advance(12 * 3600 + 1)
        assert await admin_status(live.url, browser.cookie()) == 303
    finally:
        await browser.close()


async def _redis_store() -> LoginStore:
    store = RedisLoginStore(REDIS_URL)
    try:
        await store.organiser("ping", FixedClock().now())
    except Exception as exc:  # no Redis here: a failure in CI
        await store.close()
        if IN_CI:
            raise
        pytest.skip(f"Redis is not reachable: {exc}")
    return store


async def exercise(store: LoginStore, organiser: int) -> None:
    now = FixedClock().now()
    later = now + timedelta(hours=12)
    prefix = uuid.uuid4().hex
    try:
        for n in range(3):
            await store.add(f"{prefix}{n}", organiser, now, later)
        await store.add(f"{prefix}other", organiser + 1, now, later)
        assert await store.organiser(f"{prefix}0", now) == organiser
        assert await store.organiser(f"{prefix}0", later) is None  # expired
        await store.remove(f"{prefix}0")
        assert await store.organiser(f"{prefix}0", now) is None
        await store.remove_organiser(organiser)
        assert await store.organiser(f"{prefix}1", now) is None
        assert await store.organiser(f"{prefix}2", now) is None
        assert await store.organiser(f"{prefix}other", now) == organiser + 1
    finally:
        await store.remove_organiser(organiser + 1)
        await store.close()


@pytest.mark.parametrize("kind", ["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def test_memory_and_redis_stores(kind: str) -> None:
    await exercise(MemoryLoginStore() if kind == "memory" else await _redis_store(),
                   organiser=uuid.uuid4().int % 1_000_000)


async def test_database_store(db: Database) -> None:
    from sessions.storage.tables import organisers

    now = FixedClock().now()
    async with db.transaction() as conn:  # the rows the foreign key names
        for organiser in (1, 2):
            await conn.execute(organisers.insert().values(
                id=organiser, email=f"{organiser}@example.org", display_name="C",
                password_hash="x", created_at=now))
    await exercise(DatabaseLoginStore(db), organiser=1)


@pytest.mark.redis
async def test_two_processes_on_redis_share_logins_and_logouts(
    aiohttp_server: Any, config: Any, clock: FixedClock
) -> None:
    from server.app import create_app
    from server.keys import CAFES
    from server.login_sessions import LOGIN_STORE

    await (await _redis_store()).close()  # skips (locally) or fails (CI) without Redis
    shared = config.model_copy(update={"redis_url": REDIS_URL})
    first = cast(TestServer, await aiohttp_server(create_app(shared, clock=clock)))
    second = cast(TestServer, await aiohttp_server(create_app(shared, clock=clock)))
    assert isinstance(first.app[LOGIN_STORE], RedisLoginStore)
    await create_organiser(first.app[CAFES], EMAIL, "Claire", PASSWORD)
    browser = Browser(str(first.make_url("/")))
    try:
        assert await browser.login() == 303
        cookie = browser.cookie()
        assert await admin_status(str(second.make_url("/")), cookie) == 200
        assert await browser.post("/logout") == 303
        assert await admin_status(str(second.make_url("/")), cookie) == 303
    finally:
        await browser.close()


@pytest.mark.timeout(300)  # three `causerie` processes on a loaded machine
async def test_cli_password_reset_ends_every_login(tmp_path: Any) -> None:
    """`causerie admin password`, in a real subprocess, on the SQLite file of a data dir."""
    import asyncio
    import subprocess
    import sys

    from server.auth import authenticate
    from sessions.service_cafes import CafeService

    data = tmp_path / "var"
    env = {**os.environ, "CAUSERIE_DATA_DIR": str(data), "CAUSERIE_LOG_LEVEL": "WARNING"}

    def cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "server.cli", *args], input=stdin,
                              capture_output=True, text=True, env=env, timeout=120,
                              check=False)

    assert (await asyncio.to_thread(cli, "db", "upgrade")).returncode == 0
    created = await asyncio.to_thread(cli, "admin", "create", "--email", EMAIL, "--name",
                                      "Claire", "--password-stdin", stdin=PASSWORD + "\n")
    assert created.returncode == 0, created.stderr
    db = open_database(f"sqlite+aiosqlite:///{data.resolve()}/causerie.db")
    store = DatabaseLoginStore(db)
    now = FixedClock().now()
    try:
        for key in ("laptop", "phone"):
            await store.add(key, 1, now, now + timedelta(hours=1))
        assert await store.organiser("laptop", now) == 1
        reset = await asyncio.to_thread(cli, "admin", "password", "--email", EMAIL,
                                        "--password-stdin", stdin="a new long password\n")
        assert reset.returncode == 0, reset.stderr
        assert await store.organiser("laptop", now) is None
        assert await store.organiser("phone", now) is None
        cafes = CafeService(db, FixedClock(), "x" * 40)
        assert await authenticate(cafes, EMAIL, PASSWORD) is None
        assert await authenticate(cafes, EMAIL, "a new long password") is not None
    finally:
        await db.close()
