"""Simulcast: the café's programme (`server.broadcast`, encoded once) pushed to each of the
café's RTMP(S) destinations (`sessions.destinations`) while it is live, as one more output
of the same encoder (``flv``), reconnecting with back-off (`signaling.media.encoder`).

- `StreamKeyBox`: stream keys sealed at rest with Fernet, the key from
  `simulcast.stream_key_secret` or derived (HKDF-SHA256) from the app's `secret_key`.
- `Simulcast`: on the café's media node, for each live programme, re-reads the café's
  destinations every `refresh_seconds` (added or removed from any process's admin page),
  adds or removes outputs to match, and publishes each destination's status.
- `MemoryStatusBoard` / `RedisStatusBoard`: those statuses, read by the admin page on any
  process (entries expire when the media node stops writing them).

An ``rtmps://`` destination is pushed through a `signaling.media.tls_tunnel.TlsTunnel`
(plain RTMP to 127.0.0.1, TLS from there, the certificate verified against
`simulcast.ca_file` or the system's authorities): FFmpeg's own rtmps does not verify it.

A destination that refuses, disappears or stalls costs only its own output thread and push
process (`signaling.media.push_process`): the encoder drops that output's packets when its
queue is full, the café goes on. Logs name a
destination by café and id, never its URL or key.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import ssl
import time
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

from aiohttp import web
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from server.config import SimulcastConfig
from sessions.service_destinations import DestinationService, PushTarget
from signaling.media.encoder import Output, OutputSpec
from signaling.media.tls_tunnel import TlsTunnel, verifying_context

log = logging.getLogger("causerie.simulcast")

__all__ = ["DESTINATIONS", "SIMULCAST", "STATUS_BOARD", "DestinationStatus",
           "MemoryStatusBoard", "RedisStatusBoard", "Simulcast", "StatusBoard",
           "StreamKeyBox"]


class StreamKeyBox:
    """Seals stream keys (a `sessions.destinations.Sealer`)."""

    def __init__(self, secret_key: str, stream_key_secret: str = "") -> None:
        if stream_key_secret:
            key = stream_key_secret.encode()
        else:
            derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                           info=b"causerie rtmp stream keys").derive(secret_key.encode())
            key = base64.urlsafe_b64encode(derived)
        self._fernet = Fernet(key)

    def seal(self, key: str) -> str:
        return self._fernet.encrypt(key.encode()).decode()

    def open(self, sealed: str) -> str:
        try:
            return self._fernet.decrypt(sealed.encode()).decode()
        except InvalidToken:
            raise ValueError("stream key sealed with another secret") from None


@dataclass(frozen=True, slots=True)
class DestinationStatus:
    """What the admin page says of one destination (no URL, no key)."""

    state: str  # starting | live | retrying | failed | closed | unreadable
    error: str = ""
    retry_at: float = 0.0  # wall clock
    reconnects: int = 0
    packets: int = 0
    certificate_refused: bool = False  # rtmps: the server's certificate did not verify

    @classmethod
    def of(cls, output: Output, secrets: tuple[str, ...],
           tunnel: TlsTunnel | None = None) -> DestinationStatus:
        status = output.status
        error = status.error
        refused = False
        if tunnel is not None and tunnel.error and status.state != "live":
            # FFmpeg only saw its loopback connection end: the tunnel knows why.
            error, refused = tunnel.error, tunnel.certificate_refused
        for secret in secrets:
            if secret:
                error = error.replace(secret, "••••")
        return cls(status.state, error[:200], status.retry_at, status.reconnects,
                   status.packets, refused)


class StatusBoard(Protocol):
    async def write(self, cafe_id: int, statuses: dict[int, DestinationStatus]) -> None: ...

    async def read(self, cafe_id: int) -> dict[int, DestinationStatus]: ...

    async def clear(self, cafe_id: int) -> None: ...

    async def close(self) -> None: ...


class MemoryStatusBoard:
    def __init__(self) -> None:
        self._cafes: dict[int, dict[int, DestinationStatus]] = {}

    async def write(self, cafe_id: int, statuses: dict[int, DestinationStatus]) -> None:
        self._cafes[cafe_id] = dict(statuses)

    async def read(self, cafe_id: int) -> dict[int, DestinationStatus]:
        return dict(self._cafes.get(cafe_id, {}))

    async def clear(self, cafe_id: int) -> None:
        self._cafes.pop(cafe_id, None)

    async def close(self) -> None:
        return None


class RedisStatusBoard:
    """``<prefix>:<café id>``: one JSON string, expiring ``ttl`` seconds after its last
    write (a dead media node's statuses go away)."""

    def __init__(self, redis_url: str, *, ttl: float = 15.0,
                 prefix: str = "causerie:simulcast") -> None:
        import redis.asyncio as aioredis

        self.redis: Any = aioredis.Redis.from_url(redis_url, decode_responses=True)
        self.ttl = ttl
        self.prefix = prefix

    async def write(self, cafe_id: int, statuses: dict[int, DestinationStatus]) -> None:
        body = json.dumps({str(k): asdict(v) for k, v in statuses.items()})
        await self.redis.set(f"{self.prefix}:{cafe_id}", body, px=int(self.ttl * 1000))

    async def read(self, cafe_id: int) -> dict[int, DestinationStatus]:
        body = await self.redis.get(f"{self.prefix}:{cafe_id}")
        if not body:
            return {}
        try:
            return {int(k): DestinationStatus(**v) for k, v in json.loads(body).items()}
        except (ValueError, TypeError):
            return {}

    async def clear(self, cafe_id: int) -> None:
        await self.redis.delete(f"{self.prefix}:{cafe_id}")

    async def close(self) -> None:
        await self.redis.aclose()


class _Broadcast(Protocol):
    """What simulcast needs of `server.broadcast.Broadcast`."""

    cafe_id: int

    @property
    def encoder(self) -> Any: ...


class _Broadcasts(Protocol):
    def live(self, cafe_id: int) -> Any: ...


@dataclass(eq=False)
class _Push:
    target: PushTarget
    output: Output | None  # None: the key could not be opened
    tunnel: TlsTunnel | None = None  # rtmps: where the output pushes plain RTMP to

    @property
    def secrets(self) -> tuple[str, ...]:
        url = self.target.url
        return (url, url.rsplit("/", 1)[-1]) if url else ()


class Simulcast:
    """Follows each live programme of this process and keeps its RTMP outputs in step with
    the café's destinations."""

    def __init__(self, broadcasts: _Broadcasts, destinations: DestinationService,
                 board: StatusBoard, config: SimulcastConfig) -> None:
        self.broadcasts = broadcasts
        self.destinations = destinations
        self.board = board
        self.config = config
        self.tls: ssl.SSLContext = verifying_context(config.ca_file)
        self._tasks: dict[int, asyncio.Task[None]] = {}

    def on_broadcast(self, broadcast: _Broadcast) -> None:
        """A `Broadcasts` listener: a programme started (on the loop)."""
        if not self.config.enabled:
            return
        previous = self._tasks.get(broadcast.cafe_id)
        if previous is not None:
            previous.cancel()
        self._tasks[broadcast.cafe_id] = asyncio.create_task(self._follow(broadcast))

    async def _follow(self, broadcast: _Broadcast) -> None:
        cafe_id = broadcast.cafe_id
        pushes: dict[int, _Push] = {}
        try:
            while self.broadcasts.live(cafe_id) is broadcast:
                try:
                    await self._sync(broadcast, pushes)
                except Exception as exc:  # the database or Redis away: try again later
                    log.warning("simulcast refresh failed cafe=%s: %s", cafe_id,
                                type(exc).__name__)
                await asyncio.sleep(self.config.refresh_seconds)
        finally:
            # The programme ended: its encoder closed every output. Cancelled (a new run
            # or the app's end): close ours here.
            live = self.broadcasts.live(cafe_id) is broadcast
            for push in pushes.values():
                if live and push.output is not None:
                    await asyncio.to_thread(broadcast.encoder.remove_output, push.output)
                if push.tunnel is not None:
                    if push.output is not None:  # its last seconds still go through it
                        await asyncio.to_thread(push.output.wait_closed,
                                                self.config.open_timeout_seconds)
                    await push.tunnel.aclose()
            with contextlib.suppress(Exception):
                await self.board.clear(cafe_id)
            if self._tasks.get(cafe_id) is asyncio.current_task():
                del self._tasks[cafe_id]

    async def _sync(self, broadcast: _Broadcast, pushes: dict[int, _Push]) -> None:
        cafe_id = broadcast.cafe_id
        targets = {t.destination.id: t for t in await self.destinations.targets(cafe_id)}
        for gone in [d for d in pushes if d not in targets]:
            push = pushes.pop(gone)
            if push.output is not None:
                await asyncio.to_thread(broadcast.encoder.remove_output, push.output)
            if push.tunnel is not None:
                await push.tunnel.aclose()
            log.info("simulcast stopped cafe=%s destination=%s", cafe_id, gone)
        for destination_id, target in targets.items():
            if destination_id in pushes:
                continue
            output = tunnel = None
            if target.url:
                name = f"cafe={cafe_id}-destination={destination_id}"
                url = target.url
                if urlsplit(url).scheme.lower() == "rtmps":
                    tunnel, url = await self._tunnel(name, url)
                output = broadcast.encoder.add_output(OutputSpec(
                    name, url, "flv", retry=True, max_backoff=self.config.retry_max_seconds,
                    open_timeout=self.config.open_timeout_seconds, process=True))
                log.info("simulcast started cafe=%s destination=%s tls=%s", cafe_id,
                         destination_id, tunnel is not None)
            pushes[destination_id] = _Push(target, output, tunnel)
        await self.board.write(cafe_id, {
            d: (DestinationStatus.of(p.output, p.secrets, p.tunnel) if p.output is not None
                else DestinationStatus("unreadable"))
            for d, p in pushes.items()})

    async def _tunnel(self, name: str, url: str) -> tuple[TlsTunnel, str]:
        """A started tunnel to an ``rtmps://`` URL's server, and the ``rtmp://`` URL on
        loopback that reaches it (same application and stream key)."""
        parts = urlsplit(url)
        assert parts.hostname is not None  # validated when it was added
        tunnel = TlsTunnel(name, parts.hostname, parts.port or RTMPS_PORT, self.tls,
                           connect_timeout=self.config.open_timeout_seconds)
        port = await tunnel.start()
        query = f"?{parts.query}" if parts.query else ""
        return tunnel, f"rtmp://127.0.0.1:{port}{parts.path}{query}"

    async def aclose(self) -> None:
        for task in list(self._tasks.values()):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def retry_in(status: DestinationStatus, now: float | None = None) -> int:
    """Whole seconds until the next attempt (at least 1 while retrying)."""
    return max(1, round(status.retry_at - (time.time() if now is None else now)))


RTMPS_PORT = 443  # FFmpeg's, YouTube's and Facebook's


DESTINATIONS = web.AppKey("destinations", DestinationService)
STATUS_BOARD = web.AppKey("simulcast_status", StatusBoard)
SIMULCAST = web.AppKey("simulcast", Simulcast)


async def destinations_lifetime(app: web.Application) -> AsyncIterator[None]:
    """After the database: the destinations service and the status board (every process)."""
    from server.keys import CLOCK, CONFIG, DATABASE

    config = app[CONFIG]
    box = StreamKeyBox(config.secret_key, config.simulcast.stream_key_secret)
    app[DESTINATIONS] = DestinationService(app[DATABASE], app[CLOCK], box,
                                           config.simulcast)
    board: StatusBoard = (RedisStatusBoard(config.redis_url,
                                           ttl=max(15.0, 5 * config.simulcast.refresh_seconds))
                          if config.redis_url else MemoryStatusBoard())
    app[STATUS_BOARD] = board
    yield
    await board.close()


async def simulcast_lifetime(app: web.Application) -> AsyncIterator[None]:
    """After `server.broadcast.broadcast_lifetime`: push each programme that starts here to
    its café's destinations."""
    from server.broadcast import BROADCASTS
    from server.keys import CONFIG

    broadcasts = app[BROADCASTS]
    simulcast = Simulcast(broadcasts, app[DESTINATIONS], app[STATUS_BOARD],
                          app[CONFIG].simulcast)
    app[SIMULCAST] = simulcast
    broadcasts.listeners.append(simulcast.on_broadcast)
    yield
    broadcasts.listeners.remove(simulcast.on_broadcast)
    await simulcast.aclose()
