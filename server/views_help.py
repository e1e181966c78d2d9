"""Safeguarding pages: the organiser's help numbers and privacy notice of a café, and the
café's public privacy page (the join step links to it)."""

from __future__ import annotations

import logging
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from server import auth
from server.keys import CAFES, CATALOGS, SERVICES
from server.views_admin import _field, _form
from server.web_errors import LANG
from sessions.cafe import Cafe
from sessions.errors import InvalidInput
from sessions.help_settings import (
    HELP_DESCRIPTION_MAX,
    HELP_LINES_MAX,
    NUMBER_MAX,
    PRIVACY_MAX,
    CafeHelp,
    validate_help,
    validate_privacy,
)

log = logging.getLogger("causerie.http")
routes = web.RouteTableDef()


@routes.get("/cafes/{slug}/privacy", name="privacy")
@aiohttp_jinja2.template("privacy.html")
async def privacy_page(request: web.Request) -> dict[str, object]:
    cafe = await request.app[CAFES].get(request.match_info["slug"][:100])
    services = request.app[SERVICES]
    settings = await services.cafe_help.settings(cafe.id)
    paragraphs = [p for p in settings.privacy.text(request[LANG]).split("\n\n") if p.strip()]
    return {"cafe": cafe, "paragraphs": paragraphs,
            "help": await services.cafe_help.help_for(cafe.id)}


@routes.get("/admin/cafes/{slug}/help", name="cafe_help")
@aiohttp_jinja2.template("admin/help.html")
async def help_form(request: web.Request) -> dict[str, object]:
    _, cafe = await auth.require_cafe_organiser(request, request.app[CAFES])
    service = request.app[SERVICES].cafe_help
    settings = await service.settings(cafe.id)
    help_lines = settings.effective_help(service.default_help)
    rows = [(line.number, line.description_fr, line.description_en)
            for line in help_lines.lines]
    return _context(cafe, rows, settings.privacy.text_fr, settings.privacy.text_en,
                    uses_default=settings.help is None, saved=request.query.get("saved") == "1")


@routes.post("/admin/cafes/{slug}/help")
async def help_save(request: web.Request) -> web.StreamResponse:
    _, cafe = await auth.require_cafe_organiser(request, request.app[CAFES])
    form = await _form(request)
    rows = [(_field(form, f"number_{i}", NUMBER_MAX), _field(form, f"fr_{i}", 500),
             _field(form, f"en_{i}", 500)) for i in range(HELP_LINES_MAX)]
    privacy = (_field(form, "privacy_fr", PRIVACY_MAX), _field(form, "privacy_en", PRIVACY_MAX))
    use_default = _field(form, "use_default", 5) == "1"
    try:
        settings = CafeHelp(help=None if use_default else validate_help(rows),
                                    privacy=validate_privacy(*privacy))
    except InvalidInput as exc:
        message = request.app[CATALOGS].error_message(request[LANG], exc)
        context = _context(cafe, rows, *privacy, uses_default=use_default, error=message)
        return aiohttp_jinja2.render_template("admin/help.html", request, context,
                                              status=400)
    await request.app[SERVICES].cafe_help.save(cafe.id, settings)
    raise web.HTTPSeeOther(f"/admin/cafes/{cafe.slug}/help?saved=1")


def _context(cafe: Cafe, rows: list[tuple[str, str, str]], privacy_fr: str, privacy_en: str,
             *, uses_default: bool, saved: bool = False,
             error: str | None = None) -> dict[str, Any]:
    rows = rows + [("", "", "")] * (HELP_LINES_MAX - len(rows))
    return {"cafe": cafe, "rows": rows[:HELP_LINES_MAX], "privacy_fr": privacy_fr,
            "privacy_en": privacy_en, "uses_default": uses_default, "saved": saved,
            "error": error, "number_max": NUMBER_MAX, "description_max": HELP_DESCRIPTION_MAX,
            "privacy_max": PRIVACY_MAX}
