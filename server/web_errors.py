"""Translate domain errors into HTTP responses at the edge: JSON for /api, a page otherwise."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import aiohttp_jinja2
from aiohttp import web

from server.keys import CATALOGS
from sessions.errors import CauserieError

log = logging.getLogger("causerie.http")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
LANG = web.RequestKey("lang", str)


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except CauserieError as exc:
        status = exc.http_status
        message = request.app[CATALOGS].error_message(request.get(LANG, "fr"), exc)
        code = exc.code
        if status >= 500:
            log.error("request failed path=%s code=%s", request.path, code)
    except web.HTTPNotFound:
        status, code = 404, "not_found"
        message = request.app[CATALOGS].gettext(request.get(LANG, "fr"), "Page not found.")
    except web.HTTPException:
        raise
    if request.path.startswith("/api/") or request.path.endswith(".json"):
        return web.json_response({"error": {"code": code, "message": message}}, status=status)
    response = aiohttp_jinja2.render_template(
        "error.html", request, {"message": message, "status": status}, status=status)
    return response


SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    # No inline script anywhere: user text can never become code. Media from blob: (hls.js
    # feeds the <video> through Media Source Extensions) and data: (the empty WebVTT its
    # caption tracks start from).
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; media-src 'self' blob: data:; "
        "style-src 'self'; script-src 'self'; connect-src 'self' ws: wss:; "
        "frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
    ),
}


async def security_headers(_request: web.Request, response: web.StreamResponse) -> None:
    """On every response the app sends (`on_response_prepare`): pages, redirects, 404 and
    405 from the router, and the bare 500 aiohttp writes when a handler raises."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
