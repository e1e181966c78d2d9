"""Prometheus metrics, one registry per app (no process-wide globals)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.http_requests = Counter(
            "causerie_http_requests_total", "HTTP requests", ["method", "route", "status"],
            registry=self.registry)
        self.http_latency = Histogram(
            "causerie_http_request_seconds", "HTTP request latency", ["route"],
            registry=self.registry)

    def gauge(self, name: str, documentation: str, read: Callable[[], float]) -> None:
        """Register a gauge read at scrape time (media, transcripts)."""
        gauge = Gauge(name, documentation, registry=self.registry)
        gauge.set_function(read)

    def render(self) -> bytes:
        return bytes(generate_latest(self.registry))


CONTENT_TYPE = CONTENT_TYPE_LATEST.split(";")[0]


def middleware(metrics: Metrics) -> Middleware:
    @web.middleware
    async def measure(request: web.Request, handler: Handler) -> web.StreamResponse:
        start = time.perf_counter()
        route = request.match_info.route.resource
        name = route.canonical if route is not None else "unmatched"
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            metrics.http_requests.labels(request.method, name, str(status)).inc()
            metrics.http_latency.labels(name).observe(time.perf_counter() - start)

    return measure
