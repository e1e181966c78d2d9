"""The café admin page's "Conservation et effacement" section and its forms: the retention
period of raw recordings, deleting them now, and erasing one participant's contributions from
their pseudonym (a preview of what goes, then a confirmation). The scheduled retention task
runs here too, for as long as the app runs. The work is `transcripts.retention_service`'s.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from server import auth
from server.keys import CAFES, CATALOGS, CONFIG, DATABASE
from server.views_admin import _field, _form
from server.views_review import REVIEW
from server.web_errors import LANG
from sessions.actors import Actor
from sessions.cafe import Cafe, CafeStatus
from sessions.errors import InvalidInput
from sessions.roles import Role
from transcripts.retention import DAYS_FIELD_MAX, CafeKeeping, delete_after, validate_days
from transcripts.retention_service import RetentionService, retention_loop

routes = web.RouteTableDef()
RETENTION = web.AppKey("retention", RetentionService)
PSEUDONYM_MAX = 80


async def retention_lifetime(app: web.Application) -> AsyncIterator[None]:
    """The retention service (after the review service: erasing rebuilds the replay), and
    the scheduled run when the config has it on."""
    config = app[CONFIG]
    service = RetentionService(app[DATABASE], app[CAFES].clock.now,
                               data_dir=config.data_dir, review=app[REVIEW])
    app[RETENTION] = service
    task = (asyncio.create_task(retention_loop(service, config.retention.interval_minutes))
            if config.retention.enabled else None)
    yield
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def section(request: web.Request, cafe: Cafe) -> dict[str, Any]:
    service = request.app[RETENTION]
    (keeping,) = await service.keeping(cafe.id)
    files, size = await service.stored(cafe.id)
    return {
        "id": "retention",
        "title": request.app[CATALOGS].gettext(request[LANG], "Retention and erasure"),
        "template": "admin/_retention.html",
        "context": {"keeping": keeping, "delete_after": delete_after(keeping),
                    "files": files, "megabytes": round(size / 1_000_000, 1),
                    "live": cafe.status is CafeStatus.LIVE,
                    "deleted": request.query.get("deleted") == "1",
                    "erased": request.query.get("erased") == "1"},
    }


async def _organiser_cafe(request: web.Request) -> tuple[str, Cafe, Any]:
    organiser, cafe = await auth.require_cafe_organiser(request, request.app[CAFES])
    form = await _form(request)
    label = Actor(organiser.id, cafe.id, Role.ORGANISER, organiser.display_name).label
    return label, cafe, form


@routes.post("/admin/cafes/{slug}/retention")
async def retention_set(request: web.Request) -> web.StreamResponse:
    actor, cafe, form = await _organiser_cafe(request)
    days = validate_days(_field(form, "days", DAYS_FIELD_MAX))
    await request.app[RETENTION].set_days(cafe.id, days, actor)
    raise web.HTTPSeeOther(f"/admin/cafes/{cafe.slug}?saved=1#retention")


@routes.post("/admin/cafes/{slug}/recordings/delete")
async def recordings_delete(request: web.Request) -> web.StreamResponse:
    actor, cafe, form = await _organiser_cafe(request)
    if _field(form, "confirm", 5) != "1":
        raise InvalidInput("Tick the box to confirm the deletion.")
    await request.app[RETENTION].delete_recordings(cafe.id, actor)
    raise web.HTTPSeeOther(f"/admin/cafes/{cafe.slug}?deleted=1#retention")


@routes.post("/admin/cafes/{slug}/erase")
async def participant_erase(request: web.Request) -> web.StreamResponse:
    actor, cafe, form = await _organiser_cafe(request)
    pseudonym = _field(form, "pseudonym", PSEUDONYM_MAX)
    if not pseudonym.strip() or len(pseudonym) > PSEUDONYM_MAX:
        raise InvalidInput("Give the pseudonym of the participant to erase.")
    confirmed = _field(form, "confirm", 5) == "1"
    erasure = await request.app[RETENTION].erase(cafe.id, pseudonym, actor,
                                                  confirmed=confirmed)
    if confirmed:
        raise web.HTTPSeeOther(f"/admin/cafes/{cafe.slug}?erased=1#retention")
    return aiohttp_jinja2.render_template("admin/erase_confirm.html", request, {
        "cafe": cafe, "pseudonym": pseudonym, "erasure": erasure})


__all__ = ["RETENTION", "CafeKeeping", "retention_lifetime", "routes", "section"]
