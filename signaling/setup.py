"""`setup_signaling`: the one call the app factory makes to mount the realtime edge."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from urllib.parse import urlsplit

import socketio
from aiohttp import web

from sessions.services import Services
from signaling.hub import Hub, Translate
from signaling.keys import HUB, MEDIA, NAMESPACE, SOCKETIO
from signaling.manager import FanoutManager, FanoutRedisManager, LocalFanout
from signaling.media import IceSettings, MediaRouter, ice_servers_for_browser
from signaling.namespace import CafeNamespace
from signaling.placement import RedisPlacement
from signaling.presence import MemoryPresence, PresenceStore
from signaling.presence_redis import RedisPresence
from signaling.settings import ClusterSettings, SignalingLimits
from signaling.wire import WirePacket

log = logging.getLogger("causerie.signaling")

MAX_MESSAGE_BYTES = 256 * 1024


def pubsub_channel(redis_url: str) -> str:
    """The pub/sub channel of the processes that share this Redis database: channels ignore
    Redis's database numbers, so deployments (or test runs) on one Redis pick a database
    each and stay apart."""
    database = urlsplit(redis_url).path.strip("/") or "0"
    return f"causerie:socketio:db{database}"


def setup_signaling(
    app: web.Application,
    *,
    services: web.AppKey[Services],
    translate: Translate,
    ice: IceSettings,
    limits: SignalingLimits,
    redis_url: str = "",
    cors_allowed_origins: str | Sequence[str] | None = None,
    media: bool = True,
    path: str = "socket.io",
    cluster: ClusterSettings | None = None,
    webrtc_capacity: int = 0,
    presence_list_limit: int = 50,
) -> None:
    """Mount socket.io on `app` at `/socket.io/`.

    `services` is the key under which the composition root (`server.composition`) puts the
    sessions services, before this edge's lifetime starts. `translate`
    is `(lang, error) -> message` (`server.i18n.Catalogs.error_message`). With `redis_url`,
    rooms, presence and rate limits are shared by every process through Redis.
    `cors_allowed_origins`: None accepts the page's own origin only. `cluster.node_id`
    (with `redis_url`): this process's media node (`signaling.placement`). `webrtc_capacity`:
    parents per café on WebRTC before `media.subscribe` answers `webrtc_full` (0: no limit).
    `presence_list_limit`: people in a café beyond which its audience sees only the staff in
    presence (`signaling.presence.audience_diff`).
    """
    manager: LocalFanout = (FanoutRedisManager(redis_url, channel=pubsub_channel(redis_url))
                            if redis_url else FanoutManager())
    sio = socketio.AsyncServer(
        async_mode="aiohttp", client_manager=manager,
        cors_allowed_origins=(list(cors_allowed_origins)
                              if isinstance(cors_allowed_origins, Sequence)
                              and not isinstance(cors_allowed_origins, str)
                              else cors_allowed_origins),
        max_http_buffer_size=MAX_MESSAGE_BYTES, logger=False, engineio_logger=False,
        serializer=WirePacket,
    )
    presence: PresenceStore = RedisPresence(redis_url) if redis_url else MemoryPresence()
    hub = Hub(sio=sio, presence=presence, translate=translate, limits=limits,
              ice_servers=ice_servers_for_browser(ice),
              services=lambda: app[services], webrtc_capacity=webrtc_capacity,
              presence_list_limit=presence_list_limit)
    cluster = cluster or ClusterSettings()
    if redis_url and cluster.node_id:
        hub.placement = RedisPlacement(redis_url, cluster.node_id, ttl=cluster.node_ttl_seconds)
    namespace = CafeNamespace(hub)
    sio.register_namespace(namespace)
    manager.command_hook = hub.on_command
    manager.room_closed_hook = hub.on_room_closed
    sio.attach(app, socketio_path=path)
    app[SOCKETIO] = sio
    app[NAMESPACE] = namespace
    app[HUB] = hub

    async def lifetime(app: web.Application) -> AsyncIterator[None]:
        if services not in app:
            raise RuntimeError("setup_signaling: the services are built before its lifetime")
        if media:
            router = MediaRouter(
                ice=ice, sdp_max_bytes=limits.sdp_max_bytes,
                max_tracks_per_publisher=limits.max_tracks_per_publisher,
                stage_max=limits.stage_max)
            hub.media = router
            app[MEDIA] = router
        if isinstance(hub.placement, RedisPlacement):
            await hub.placement.beat()
            hub.placement.start()
        # Listen to the other processes from the start, not from the first connection.
        sio.manager_initialized = True
        manager.initialize()
        log.info("signaling ready redis=%s media=%s node=%s", bool(redis_url), media,
                 hub.placement.node_id or "-")
        yield
        for sid in list(hub.connections):
            with contextlib.suppress(Exception):
                await sio.disconnect(sid, namespace=hub.namespace, ignore_queue=True)
        await hub.drain()
        await hub.peaks.close()  # before the services' database closes
        await sio.shutdown()
        thread = getattr(manager, "thread", None)
        if isinstance(thread, asyncio.Future):
            thread.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await thread
        for client in (getattr(manager, "redis", None), getattr(manager, "pubsub", None)):
            close = getattr(client, "aclose", None)
            if close is not None:
                with contextlib.suppress(Exception):
                    await close()
        if hub.media is not None:
            await hub.media.close()
        await presence.close()
        await hub.placement.close()
        log.info("signaling closed")

    app.cleanup_ctx.append(lifetime)
