"""Security headers on every response, raw 500s included, and who may read /metrics
(issue 8, finding 12). Other client addresses are real: sockets bound to 127.0.0.x."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, cast

import aiohttp
import pytest
from aiohttp import web
from page_support import Client

from server.app import create_app
from server.config import Config, ConfigError, load_config
from sessions.clock import FixedClock

TOKEN = "metrics-token-0123456789-abcdef"
HEADERS = ("Content-Security-Policy", "X-Frame-Options", "X-Content-Type-Options",
           "Referrer-Policy")
MakeClient = Callable[..., Awaitable[Client]]


async def _boom(_request: web.Request) -> web.Response:
    raise RuntimeError("an unexpected bug")


@pytest.fixture
async def boom_client(aiohttp_client: object, config: Config, clock: FixedClock) -> Client:
    app = create_app(config, clock=clock)
    app.router.add_get("/boom", _boom)  # a handler bug: aiohttp answers a bare 500
    return cast(Client, await cast(Any, aiohttp_client)(app))


@asynccontextmanager
async def from_address(client: Client, address: str) -> AsyncIterator[aiohttp.ClientSession]:
    connector = aiohttp.TCPConnector(local_addr=(address, 0))
    async with aiohttp.ClientSession(str(client.make_url("")), connector=connector) as session:
        yield session


@pytest.mark.parametrize(("method", "path", "status"), [
    ("GET", "/", 200),
    ("GET", "/lang/en?next=/", 303),
    ("GET", "/admin", 303),
    ("GET", "/logout", 405),
    ("DELETE", "/", 405),
    ("GET", "/nope", 404),
    ("GET", "/cafes/nope", 404),
    ("GET", "/api/search?limit=0", 400),
    ("POST", "/login", 403),
    ("GET", "/boom", 500),
    ("GET", "/favicon.ico", 301),
])
async def test_every_response_carries_the_security_headers(
    boom_client: Client, method: str, path: str, status: int
) -> None:
    response = await boom_client.request(method, path, allow_redirects=False)
    assert response.status == status, await response.text()
    for name in HEADERS:
        assert name in response.headers, (path, name)
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


async def test_metrics_from_loopback_only_by_default(client: Client) -> None:
    assert (await client.get("/metrics")).status == 200
    forwarded = await client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"})
    assert forwarded.status == 403  # a proxy on this host: the client is not local
    async with from_address(client, "127.0.0.2") as other:
        response = await other.get("/metrics")
        assert response.status == 403
        assert "causerie_http_requests_total" not in await response.text()
        bearer = await other.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert bearer.status == 403  # no token configured: a token opens nothing


async def test_metrics_with_a_bearer_token_and_networks(
    aiohttp_client: object, config: Config, clock: FixedClock
) -> None:
    config = config.model_copy(update={"metrics_token": TOKEN,
                                       "metrics_allow": ("127.0.0.3/32",)})
    client = cast(Client, await cast(Any, aiohttp_client)(create_app(config, clock=clock)))
    assert (await client.get("/metrics")).status == 403  # 127.0.0.1 is no longer listed
    async with from_address(client, "127.0.0.3") as listed:
        assert (await listed.get("/metrics")).status == 200
    async with from_address(client, "127.0.0.2") as other:
        good = await other.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert good.status == 200 and "causerie_http_requests_total" in await good.text()
        wrong = await other.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}x"})
        assert wrong.status == 403


@pytest.mark.parametrize(("setting", "value"), [("metrics_allow", ["not-a-network"]),
                                                ("metrics_token", "short")])
def test_bad_metrics_settings_stop_start_up(setting: str, value: object) -> None:
    with pytest.raises(ConfigError, match=setting):
        load_config(None, **{setting: value})
