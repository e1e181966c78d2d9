"""Helpers for the signaling tests: a real server (the app from `tests/conftest.py` behind
aiohttp's `TestServer`), cafés made through the service, and `Peer`, a real
`socketio.AsyncClient` over websocket that records every event it receives."""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import socketio
from aiohttp import web
from aiohttp.test_utils import TestServer
from cryptography.fernet import Fernet

from server.keys import CAFES, CLOCK
from sessions.cafe import Cafe, CafeDraft
from sessions.roles import Role
from sessions.service_cafes import CafeService


def browser_key() -> str:
    return secrets.token_hex(16)


async def make_cafe(cafes: CafeService, *, title: str = "Les écrans et nos enfants",
                    live: bool = False) -> Cafe:
    now = cafes.clock.now()
    draft = CafeDraft(title=title, description="", theme="screens", language="fr",
                      starts_at=now + timedelta(hours=1), duration_minutes=60)
    cafe = await cafes.create_cafe(draft, None)
    if live:
        async with cafes.db.transaction() as conn:
            await cafes.repo.save_state(conn, _live(cafe, now))
        cafe = await cafes.get(cafe.slug)
    return cafe


def _live(cafe: Cafe, now: Any) -> Cafe:
    import dataclasses

    from sessions.cafe import CafeStatus

    return dataclasses.replace(cafe, status=CafeStatus.LIVE, opened_at=now)


async def invite(cafes: CafeService, cafe: Cafe, role: Role) -> str:
    return (await cafes.invite(cafe.id, role)).token


def session_cookie(secret_key: str, organiser_id: int, sid: str = "") -> str:
    """A `causerie_session` cookie (aiohttp_session's format) naming `organiser_id` and the
    login `sid`. Without a login record on the server (`login_cookie` adds one) it opens
    nothing: the organiser's login is checked on the server."""
    from server.auth import session_key

    fernet = Fernet(base64.urlsafe_b64encode(session_key(secret_key)))
    data = {"organiser_id": organiser_id, **({"sid": sid} if sid else {})}
    body = json.dumps({"session": data, "created": int(time.time())})
    return fernet.encrypt(body.encode()).decode()


async def login_cookie(app: web.Application, organiser_id: int,
                       lasts: timedelta | None = None) -> str:
    """The cookie of a logged-in organiser: a login record in the app's store, and the
    session cookie that names it (what `POST /login` makes). `lasts`: the login's life on
    the app's clock (a test that moves its clock by weeks keeps its organiser logged in)."""
    from server.auth import SESSION_MAX_AGE
    from server.keys import CONFIG
    from server.login_sessions import LOGIN_STORE, record_key

    sid = secrets.token_urlsafe(32)
    now = app[CLOCK].now()
    await app[LOGIN_STORE].add(record_key(sid), organiser_id, now,
                               now + (lasts or timedelta(seconds=SESSION_MAX_AGE)))
    return session_cookie(app[CONFIG].secret_key, organiser_id, sid)


@dataclass
class Peer:
    """A socket.io client that records what it receives."""

    client: socketio.AsyncClient
    events: dict[str, list[Any]] = field(default_factory=lambda: defaultdict(list))
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    disconnected: asyncio.Event = field(default_factory=asyncio.Event)
    me: dict[str, Any] = field(default_factory=dict)

    async def call(self, event: str, payload: Any = None, wait: float = 10) -> Any:
        if payload is None:
            return await self.client.call(event, timeout=wait)
        return await self.client.call(event, payload, timeout=wait)

    async def join(self, cafe: Cafe | str, pseudonym: str = "Marie", **extra: Any) -> Any:
        slug = cafe if isinstance(cafe, str) else cafe.slug
        payload = {"cafe": slug, "pseudonym": pseudonym,
                   "browser_key": extra.pop("browser_key", None) or browser_key(), **extra}
        ack = await self.call("join", payload)
        if ack.get("ok"):
            self.me = ack["participant"]
        return ack

    async def next(self, event: str, *, count: int = 1, wait: float = 5) -> Any:
        """The `count`-th payload of `event` received so far, waiting for it."""
        deadline = asyncio.get_running_loop().time() + wait
        while len(self.events[event]) < count:
            self.arrived.clear()
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise AssertionError(f"no {event!r} #{count}; got {dict(self.events)}")
            try:
                await asyncio.wait_for(self.arrived.wait(), remaining)
            except TimeoutError:
                continue
        return self.events[event][count - 1]

    async def presence_change(self, *, joined: int | None = None, left: int | None = None,
                              wait: float = 5) -> dict[str, Any]:
        """The first `presence.changed` diff (batched by the server) with participant `joined`
        among its `joined` entries, or `left` among its `left` ids."""
        count = 1
        while True:
            diff: dict[str, Any] = await self.next("presence.changed", count=count, wait=wait)
            if joined is not None and joined in [e["participant_id"] for e in diff["joined"]]:
                return diff
            if left is not None and left in diff["left"]:
                return diff
            count += 1

    def presence_ids(self, which: str) -> list[int]:
        """Every participant id seen so far in the `joined` (ids) or `left` lists."""
        diffs = self.events.get("presence.changed", [])
        if which == "joined":
            return [e["participant_id"] for d in diffs for e in d["joined"]]
        return [i for d in diffs for i in d["left"]]

    async def close(self) -> None:
        if self.client.connected:
            await self.client.disconnect()


async def connect(url: str, *, headers: dict[str, str] | None = None,
                  transports: tuple[str, ...] = ("websocket",)) -> Peer:
    client = socketio.AsyncClient(reconnection=False)
    peer = Peer(client)

    async def on_any(event: str, data: Any = None) -> None:
        peer.events[event].append(data)
        peer.arrived.set()

    async def on_disconnect(*_args: Any) -> None:
        peer.disconnected.set()

    client.on("*", on_any)
    client.on("disconnect", on_disconnect)
    await client.connect(url, transports=list(transports), headers=headers or {},
                         wait_timeout=10)
    return peer


@dataclass
class Live:
    """A running server and the peers of one test (closed at the end)."""

    server: TestServer
    app: web.Application
    peers: list[Peer] = field(default_factory=list)

    @property
    def url(self) -> str:
        return str(self.server.make_url("/"))

    @property
    def cafes(self) -> CafeService:
        return self.app[CAFES]

    async def peer(self, headers: dict[str, str] | None = None) -> Peer:
        peer = await connect(self.url, headers=headers)
        self.peers.append(peer)
        return peer

    async def close(self) -> None:
        for peer in self.peers:
            await peer.close()


__all__ = [
    "CLOCK",
    "Live",
    "Peer",
    "browser_key",
    "connect",
    "invite",
    "login_cookie",
    "make_cafe",
    "session_cookie",
]
