"""The application factory: one typed config in, one aiohttp app out, every resource with an
explicit lifetime (`cleanup_ctx`)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp_jinja2
import jinja2
from aiohttp import web
from aiohttp_session import setup as setup_sessions
from babel.dates import format_date, format_time

from server import (
    admin_sections,
    auth,
    views_admin,
    views_association_admin,
    views_associations,
    views_help,
    views_hls,
    views_public,
    views_retention,
    views_review,
    views_safeguarding,
    views_simulcast,
)
from server.broadcast import broadcast_lifetime
from server.composition import build_services
from server.config import Config, ensure_secret_key
from server.i18n import Catalogs, negotiate
from server.keys import CAFES, CATALOGS, CLOCK, CONFIG, DATABASE, METRICS, SERVICES
from server.login_sessions import LOGIN_STORE, RevocableCookieStorage, login_store
from server.metrics import Metrics
from server.metrics import middleware as metrics_middleware
from server.observability import observability_lifetime
from server.recording import transcripts_lifetime
from server.simulcast import destinations_lifetime, simulcast_lifetime
from server.throttle import LoginThrottle
from server.web_errors import LANG, errors_middleware, security_headers
from sessions.clock import Clock, SystemClock
from sessions.ratelimit import RateLimiter
from sessions.storage.database import as_utc
from signaling.setup import setup_signaling
from transcripts.search import open_database
from transcripts.web import setup_routes as setup_transcript_routes

log = logging.getLogger("causerie.http")

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = Path(__file__).parent / "templates"
STATIC = ROOT / "static"
NODE_MODULES = ROOT / "node_modules"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def create_app(config: Config, *, clock: Clock | None = None) -> web.Application:
    config = ensure_secret_key(config)
    metrics = Metrics()
    app = web.Application(
        client_max_size=1024 * 1024,
        # The HLS files first: thousands of players fetch them, none needs the rest.
        middlewares=[views_hls.fast_path, metrics_middleware(metrics), _locale,
                     errors_middleware],
    )
    app.on_response_prepare.append(security_headers)
    app[CONFIG] = config
    app[CLOCK] = clock or SystemClock()
    app[METRICS] = metrics
    app[CATALOGS] = Catalogs()
    app[views_admin.ADMIN_SECTIONS] = [*admin_sections.SECTIONS,
                                       views_safeguarding.safeguarding_section,
                                       views_retention.section]
    app.cleanup_ctx.append(_database)
    app.cleanup_ctx.append(destinations_lifetime)
    app.cleanup_ctx.append(_login_throttle)
    app.cleanup_ctx.append(views_review.review_lifetime)
    app.cleanup_ctx.append(views_retention.retention_lifetime)

    setup_sessions(app, RevocableCookieStorage(
        auth.session_key(config.secret_key), app[CLOCK], cookie_name="causerie_session",
        httponly=True, samesite="Lax", secure=config.secure_cookies,
        max_age=auth.SESSION_MAX_AGE))
    env = aiohttp_jinja2.setup(
        app, loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
        context_processors=[_template_context], undefined=jinja2.StrictUndefined,
    )
    tz = ZoneInfo(config.timezone)
    env.filters["localtime"] = lambda value, lang="fr", fmt="medium": _localtime(
        value, tz, lang, fmt)
    env.globals["static"] = lambda name: str(
        app.router["static"].url_for(filename=name))
    env.filters["duration"] = lambda minutes: str(timedelta(minutes=int(minutes)))[:-3]
    env.filters["clocktime"] = lambda value, lang="fr": format_time(
        as_utc(value).astimezone(tz), "medium",
        locale=lang)

    app.add_routes(views_public.routes)
    app.add_routes(views_admin.routes)
    app.add_routes(views_review.routes)
    app.add_routes(views_simulcast.routes)
    app.add_routes(views_safeguarding.routes)
    app.add_routes(views_help.routes)
    views_hls.setup(app)
    app.add_routes(views_retention.routes)
    app.add_routes(views_associations.routes)
    app.add_routes(views_association_admin.routes)
    app.router.add_static("/static/", STATIC, name="static", append_version=True)
    if NODE_MODULES.is_dir():
        app.router.add_static("/vendor/", NODE_MODULES, name="vendor")
    setup_transcript_routes(app, DATABASE, zone=tz, data_dir=config.data_dir)
    setup_signaling(app, services=SERVICES, translate=app[CATALOGS].error_message,
                    ice=config.ice, limits=config.limits, redis_url=config.redis_url,
                    cluster=config.cluster, webrtc_capacity=config.broadcast.webrtc_limit,
                    presence_list_limit=config.presence_list_limit)
    # After signaling's own lifetime: the recorder needs the media router and socket.io.
    app.cleanup_ctx.append(broadcast_lifetime)
    app.cleanup_ctx.append(simulcast_lifetime)
    app.cleanup_ctx.append(transcripts_lifetime)
    app.cleanup_ctx.append(observability_lifetime)
    return app


async def _database(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG]
    config.data_dir.mkdir(parents=True, exist_ok=True)
    db = open_database(config.effective_database_url)
    app[DATABASE] = db
    limiter = RateLimiter(config.redis_url)
    services = build_services(config, db, app[CLOCK], limiter)
    app[SERVICES] = services
    app[CAFES] = services.cafes
    # Organiser logins: on Redis when the processes share one, else in the database.
    logins = login_store(db, config.redis_url)
    app[LOGIN_STORE] = logins
    log.info("database ready url=%s", db.engine.url.render_as_string(hide_password=True))
    yield
    await logins.close()
    await limiter.close()
    await db.close()
    log.info("database closed")


async def _login_throttle(app: web.Application) -> AsyncIterator[None]:
    throttle = LoginThrottle(app[CONFIG].redis_url)
    app[views_admin.auth_throttle_key] = throttle
    yield
    await throttle.close()


@web.middleware
async def _locale(request: web.Request, handler: Handler) -> web.StreamResponse:
    request[LANG] = negotiate(request, request.app[CONFIG].default_locale)
    return await handler(request)


async def _template_context(request: web.Request) -> dict[str, Any]:
    lang = request.get(LANG, "fr")
    catalogs = request.app[CATALOGS]
    organiser = await auth.current_organiser(request, request.app[CAFES])
    return {
        **catalogs.template_functions(lang),
        "lang": lang,
        "other_lang": "en" if lang == "fr" else "fr",
        "organiser": organiser,
        "csrf_token": await auth.csrf_token(request),
        "request_path": request.path_qs,
    }


def _localtime(value: datetime | None, tz: ZoneInfo, lang: str, fmt: str) -> str:
    """A café time in the configured zone: the date in `fmt` (babel's medium or full) and
    the hour without seconds."""
    if value is None:
        return ""
    try:
        local = value.astimezone(tz)
    except (OverflowError, ValueError):
        # A row outside the forms' bounds (written before they existed, or by hand): the UTC
        # time still says when, and the page still renders.
        local = value
    day = format_date(local, format=fmt, locale=lang)
    return f"{day}, {format_time(local, 'short', locale=lang)}"


async def freeze_startup_objects(_app: web.Application) -> None:
    """Move everything loaded at start-up (aiortc, PyAV, SQLAlchemy, the app) out of the
    garbage collector's reach: with thousands of sockets, full collections that walked those
    objects paused the event loop for up to a second (bench/signaling_fanout.py)."""
    import gc

    gc.collect()
    gc.freeze()
