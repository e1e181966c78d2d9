"""Prometheus metrics, one registry per app (no process-wide globals)."""

from __future__ import annotations

import hmac
import ipaddress
import time
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from server.config import Config

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
# Set by a reverse proxy: the peer address is then the proxy's, not the client's.
FORWARDING_HEADERS = ("Forwarded", "X-Forwarded-For", "X-Real-IP")


def metrics_allowed(request: web.Request, config: Config) -> bool:
    """A bearer token equal to `metrics_token`, or a direct peer in `metrics_allow`."""
    header = request.headers.get("Authorization", "")
    if config.metrics_token and header.startswith("Bearer "):
        return hmac.compare_digest(header[7:].strip().encode(), config.metrics_token.encode())
    if any(name in request.headers for name in FORWARDING_HEADERS) or not request.remote:
        return False
    try:
        peer = ipaddress.ip_address(request.remote)
    except ValueError:  # a unix socket
        return False
    if isinstance(peer, ipaddress.IPv6Address) and peer.ipv4_mapped is not None:
        peer = peer.ipv4_mapped
    return any(peer in ipaddress.ip_network(n, strict=False) for n in config.metrics_allow)


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
