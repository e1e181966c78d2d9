"""The login throttle (issue 8, finding 12): failures only, per address and per account, a
growing delay rather than a lockout. Other addresses are real: clients bound to 127.0.0.x."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import pytest
from aiohttp import web
from page_support import PASSWORD, Client, csrf

from server.auth import create_organiser
from server.keys import CAFES
from server.throttle import LoginThrottle
from sessions.errors import RateLimited

EMAIL = "orga@example.org"


@asynccontextmanager
async def from_address(client: Client, address: str) -> AsyncIterator[aiohttp.ClientSession]:
    connector = aiohttp.TCPConnector(local_addr=(address, 0))
    async with aiohttp.ClientSession(str(client.make_url("")), connector=connector,
                                     cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        yield session


async def attempt(session: aiohttp.ClientSession, password: str) -> tuple[int, str]:
    html = await (await session.get("/login")).text()
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found
    response = await session.post("/login", data={
        "email": EMAIL, "password": password, "csrf_token": found.group(1), "next": "/admin"},
        allow_redirects=False)
    return response.status, await response.text()


async def test_successful_logins_are_never_throttled(client: Client,
                                                     app: web.Application) -> None:
    await create_organiser(app[CAFES], EMAIL, "Orga", PASSWORD)
    for _ in range(12):  # the old throttle refused the eleventh
        token = await csrf(client, "/login")
        response = await client.post("/login", data={
            "email": EMAIL, "password": PASSWORD, "csrf_token": token}, allow_redirects=False)
        assert response.status == 303


async def test_ten_wrong_passwords_elsewhere_do_not_lock_the_organiser_out(
    client: Client, app: web.Application
) -> None:
    await create_organiser(app[CAFES], EMAIL, "Orga", PASSWORD)
    async with from_address(client, "127.0.0.1") as organiser:
        assert (await attempt(organiser, PASSWORD))[0] == 303  # their usual address
    async with from_address(client, "127.0.0.2") as attacker:
        statuses = [(await attempt(attacker, f"wrong password {n}"))[0] for n in range(10)]
        # Five free failures, then a growing hold on this address and this account.
        assert statuses[:6] == [401] * 6 and set(statuses[6:]) == {429}, statuses
        status, page = await attempt(attacker, PASSWORD)
        assert status == 429 and "réessayez dans" in page
    async with from_address(client, "127.0.0.3") as stranger:
        status, _ = await attempt(stranger, PASSWORD)
        assert status == 429  # the account is held for addresses it does not know
    async with from_address(client, "127.0.0.1") as organiser:
        assert (await attempt(organiser, PASSWORD))[0] == 303


async def test_the_delay_grows_and_then_lapses() -> None:
    throttle = LoginThrottle(free=1, max_delay=2)
    await throttle.check("10.0.0.1", EMAIL)
    await throttle.failed("10.0.0.1", EMAIL)  # free
    await throttle.check("10.0.0.1", EMAIL)
    await throttle.failed("10.0.0.1", EMAIL)  # one second
    with pytest.raises(RateLimited) as held:
        await throttle.check("10.0.0.9", EMAIL)  # the account, from another address
    assert held.value.params["seconds"] == 1
    await asyncio.sleep(1.1)
    await throttle.check("10.0.0.1", EMAIL)
    await throttle.failed("10.0.0.1", EMAIL)  # two seconds, the cap
    with pytest.raises(RateLimited) as held:
        await throttle.check("10.0.0.1", "other@example.org")  # the address, another account
    assert held.value.params["seconds"] == 2
    await throttle.succeeded("10.0.0.1", EMAIL)  # once the hold lapses and the password is right
    await throttle.check("10.0.0.1", EMAIL)
    await throttle.check("10.0.0.9", EMAIL)
    await throttle.close()


@pytest.mark.redis
async def test_redis_counts_are_shared_between_processes() -> None:
    import os
    import uuid

    url = os.environ.get("CAUSERIE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    first, second = LoginThrottle(url, free=1), LoginThrottle(url, free=1)
    account = f"{uuid.uuid4().hex}@example.org"
    try:
        try:
            await first.failed("10.0.0.1", account)
        except Exception as exc:  # connection refused: no Redis here (a failure in CI)
            if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
                raise
            pytest.skip(f"Redis is not reachable: {exc}")
        await second.failed("10.0.0.2", account)  # another process, the same account
        with pytest.raises(RateLimited):
            await first.check("10.0.0.3", account)
        await second.succeeded("10.0.0.3", account)
        await first.check("10.0.0.3", account)
    finally:
        await first.close()
        await second.close()
