"""Public pages: the portal, the café page (and its room), language switch, health, metrics."""

from __future__ import annotations

import logging

import aiohttp_jinja2
from aiohttp import web

from server.i18n import LANG_COOKIE, LOCALES
from server.keys import CAFES, CONFIG, DATABASE, METRICS, SERVICES
from server.metrics import CONTENT_TYPE, metrics_allowed
from server.urls import local_path
from sessions.associations import SLUG_MAX
from sessions.cafe import THEMES, Cafe, CafeStatus
from sessions.errors import PermissionDenied, Unavailable

log = logging.getLogger("causerie.http")
routes = web.RouteTableDef()


@routes.get("/", name="portal")
@aiohttp_jinja2.template("portal.html")
async def portal(request: web.Request) -> dict[str, object]:
    theme = request.query.get("theme", "").strip().lower()[:40] or None
    cafes = request.app[CAFES]
    slug = request.query.get("association", "").strip().lower()[:SLUG_MAX] or None
    chosen = None
    if slug is not None:
        chosen = next((a for a in await cafes.associations.all() if a.slug == slug), None)
    # An unknown association lists nothing (never every café).
    listing = await cafes.portal(theme, association_id=chosen.id if chosen else -1) \
        if slug is not None else await cafes.portal(theme)
    return {
        "listing": listing,
        "theme": theme,
        "themes": sorted(set(THEMES) | set(listing.themes)),
        "association": slug,
        "associations": sorted(listing.associations.values(), key=lambda a: a.name.lower()),
    }


@routes.get("/cafes/{slug}", name="cafe")
@aiohttp_jinja2.template("cafe.html")
async def cafe_page(request: web.Request) -> dict[str, object]:
    slug = request.match_info["slug"][:100]
    cafe = await request.app[CAFES].get(slug)
    invite = request.query.get("invite", "")[:300]
    config = request.app[CONFIG]
    return {
        "cafe": cafe,
        "media_node": await _media_node(request, cafe),
        "association": await request.app[CAFES].associations.get_by_id(cafe.association_id),
        "invite": invite,
        "is_live": cafe.status is CafeStatus.LIVE,
        "is_ended": cafe.status is CafeStatus.ENDED,
        "stage_max": config.limits.stage_max,
        "question_max": config.limits.question_max_length,
        "chat_max": config.limits.chat_max_length,
        "pseudonym_max": config.limits.pseudonym_max_length,
        "help": await request.app[SERVICES].cafe_help.help_for(cafe.id),
        # The live HLS broadcast (server.views_hls), for parents beyond the WebRTC places.
        "hls_url": (str(request.app.router["hls_master"].url_for(slug=cafe.slug))
                    if config.broadcast.enabled else ""),
    }


@routes.get("/lang/{lang}", name="lang")
async def switch_language(request: web.Request) -> web.StreamResponse:
    lang = request.match_info["lang"]
    if lang not in LOCALES:
        raise web.HTTPNotFound()
    back = local_path(request.query.get("next", "/"), "/")
    response = web.HTTPSeeOther(back)
    response.set_cookie(LANG_COOKIE, lang, max_age=365 * 24 * 3600, samesite="Lax",
                        httponly=True, secure=request.app[CONFIG].secure_cookies)
    raise response


@routes.get("/favicon.ico", name="favicon")
async def favicon(request: web.Request) -> web.StreamResponse:
    # Browsers ask for /favicon.ico whatever the page says.
    icon = request.app.router["static"].url_for(filename="favicon.svg")
    raise web.HTTPMovedPermanently(str(icon))


@routes.get("/healthz", name="healthz")
async def healthz(request: web.Request) -> web.Response:
    try:
        await request.app[DATABASE].ping()
    except Exception as exc:  # any driver error means "not healthy"
        log.error("health check failed: %s", exc)
        raise Unavailable("The database does not answer.") from exc
    return web.json_response({"status": "ok", "database": "ok"})


@routes.get("/metrics", name="metrics")
async def metrics(request: web.Request) -> web.Response:
    if not metrics_allowed(request, request.app[CONFIG]):
        log.warning("metrics refused")
        raise PermissionDenied()
    return web.Response(body=request.app[METRICS].render(), content_type=CONTENT_TYPE)


async def _media_node(request: web.Request, cafe: Cafe) -> str:
    """The node the room's socket must reach (`?node=` in its URL, routed by the proxy);
    "" without a cluster, for an ended café, or while Redis is away (the proxy's default)."""
    from signaling.errors import BACKEND_ERRORS
    from signaling.keys import HUB

    if cafe.status is CafeStatus.ENDED or HUB not in request.app:
        return ""
    try:
        return await request.app[HUB].placement.node_for(cafe.id)
    except BACKEND_ERRORS as exc:
        log.warning("media node unknown cafe=%s: %s", cafe.id, type(exc).__name__)
        return ""
