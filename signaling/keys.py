"""Typed application state of the realtime edge."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from signaling.hub import Hub
from signaling.media import MediaRouter
from signaling.namespace import CafeNamespace

SOCKETIO = web.AppKey("socketio", Any)  # socketio.AsyncServer (untyped library)
NAMESPACE = web.AppKey("signaling_namespace", CafeNamespace)
HUB = web.AppKey("signaling_hub", Hub)
MEDIA = web.AppKey("media_router", MediaRouter)
