"""Gauges and counters of the realtime edge and the transcripts, read at scrape time."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

from aiohttp import web
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from server.keys import METRICS
from signaling.keys import HUB, MEDIA
from signaling.media import MediaRouter


class MediaCounters(Collector):
    """Every `MediaStats` counter as `causerie_media_<name>_total`."""

    def __init__(self, router: MediaRouter) -> None:
        self.router = router

    def collect(self) -> list[CounterMetricFamily]:
        stats = self.router.stats
        return [
            CounterMetricFamily(f"causerie_media_{f.name}", f"media plane: {f.name}",
                                value=float(getattr(stats, f.name)))
            for f in dataclasses.fields(stats)
        ]


async def observability_lifetime(app: web.Application) -> AsyncIterator[None]:
    metrics = app[METRICS]
    hub = app[HUB]
    metrics.gauge("causerie_socket_connections", "socket.io connections on this process",
                  lambda: float(len(hub.connections)))
    router = app.get(MEDIA)
    if router is not None:
        metrics.gauge("causerie_media_subscribers", "subscriber peer connections",
                      lambda: float(router.subscriber_count()))
        metrics.gauge("causerie_media_publishers", "publisher peer connections",
                      lambda: float(router.publisher_count()))
        metrics.gauge("causerie_media_cafes", "cafés with media on this process",
                      lambda: float(len(router.cafe_ids())))
        metrics.registry.register(MediaCounters(router))
    yield
