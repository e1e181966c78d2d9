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


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    response = await handler(request)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("X-Frame-Options", "DENY")
    # No inline script anywhere: user text can never become code.
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data:; media-src 'self' blob:; "
        "style-src 'self'; script-src 'self'; connect-src 'self' ws: wss:; "
        "frame-ancestors 'none'; base-uri 'self'; form-action 'self'",
    )
    return response
