"""Organiser pages of safeguarding: the watched-word lists (the association's default list,
edited by its organisers only, and each café's own), with an import from a text file; a
café's reports and the evidence export (reports and moderation log, CSV and JSON). Every
form carries a CSRF token; every page needs a login."""

from __future__ import annotations

import logging
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp_jinja2
from aiohttp import web

from server import auth, evidence
from server.keys import CAFES, CATALOGS, CONFIG, SERVICES
from server.web_errors import LANG
from sessions.actors import Actor
from sessions.associations import SLUG_MAX, Association
from sessions.cafe import Cafe
from sessions.errors import InvalidInput
from sessions.moderation import AuditEntry
from sessions.reports import ReportStatus
from sessions.roles import AccountPermission, Role
from sessions.service_moderation import AUDIT_PAGE_MAX
from sessions.watchwords import MAX_LIST_CHARS, MAX_TERM_LENGTH, MAX_TERMS, parse_list

log = logging.getLogger("causerie.http")
routes = web.RouteTableDef()
# A list's text plus an imported file, in UTF-8 (at most 4 bytes a character), and the form.
FORM_MAX_BYTES = 2 * 4 * MAX_LIST_CHARS + 4096
REPORT_ROWS = 100


async def _list_form(request: web.Request) -> str:
    """The list the organiser saves: the text area, with an imported file's lines added
    (a term in both takes the file's action)."""
    if request.content_length is not None and request.content_length > FORM_MAX_BYTES:
        raise InvalidInput("This form is too large.")
    form = await request.post()
    token = form.get(auth.CSRF_FIELD)
    await auth.check_csrf(request, token if isinstance(token, str) else None)
    body = form.get("body", "")
    if not isinstance(body, str):
        raise InvalidInput("The field %(field)s is not valid.", field="body")
    upload = form.get("file")
    if isinstance(upload, web.FileField):
        raw = upload.file.read(4 * MAX_LIST_CHARS + 1)
        if raw:
            try:
                imported = raw.decode("utf-8-sig")
            except UnicodeDecodeError:
                raise InvalidInput("The imported file must be plain text in UTF-8.") from None
            body = f"{body.rstrip()}\n{imported}"
    return body[: 2 * MAX_LIST_CHARS]


def _page(request: web.Request, *, cafe: Cafe | None, association: Association,
          body: str, error: str | None = None, saved: bool = False,
          status: int = 200) -> web.Response:
    terms = 0
    if error is None:
        try:
            terms = len(parse_list(body))
        except InvalidInput:
            terms = 0
    default_url = f"/admin/associations/{association.slug}/watched-words"
    return aiohttp_jinja2.render_template("admin/watched_words.html", request, {
        "cafe": cafe, "association": association, "body": body, "error": error,
        "saved": saved, "terms": terms, "max_terms": MAX_TERMS,
        "max_term_length": MAX_TERM_LENGTH, "default_url": default_url,
        "action_url": f"/admin/cafes/{cafe.slug}/watched-words" if cafe else default_url,
    }, status=status)


def _error(request: web.Request, exc: InvalidInput) -> str:
    return request.app[CATALOGS].error_message(request[LANG], exc)


@routes.get("/admin/watched-words", name="watched_words")
async def own_default_list(request: web.Request) -> web.Response:
    """The default list is the association's: this older address leads to the list of the
    organiser's own association (403 for an account of none)."""
    organiser = await auth.require_organiser(request, request.app[CAFES])
    organiser.require(AccountPermission.ADMINISTER_ASSOCIATION, organiser.association_id)
    assert organiser.association_id is not None  # require() refused None
    association = await request.app[CAFES].associations.get_by_id(organiser.association_id)
    raise web.HTTPSeeOther(f"/admin/associations/{association.slug}/watched-words")


async def _association(request: web.Request) -> Association:
    """The association of the URL, for one of its own organisers (403 for anyone else)."""
    organiser = await auth.require_organiser(request, request.app[CAFES])
    return await request.app[CAFES].associations.administered(
        organiser, request.match_info["slug"][:SLUG_MAX])


@routes.get("/admin/associations/{slug}/watched-words", name="association_watched_words")
async def default_list(request: web.Request) -> web.Response:
    association = await _association(request)
    body = await request.app[SERVICES].watch.default_list(association.id)
    return _page(request, cafe=None, association=association, body=body,
                 saved=request.query.get("saved") == "1")


@routes.post("/admin/associations/{slug}/watched-words")
async def default_list_save(request: web.Request) -> web.StreamResponse:
    association = await _association(request)
    body = await _list_form(request)
    try:
        await request.app[SERVICES].watch.save_default_list(association.id, body)
    except InvalidInput as exc:
        return _page(request, cafe=None, association=association, body=body,
                     error=_error(request, exc), status=400)
    raise web.HTTPSeeOther(f"/admin/associations/{association.slug}/watched-words?saved=1")


@routes.get("/admin/cafes/{slug}/watched-words", name="cafe_watched_words")
async def cafe_list(request: web.Request) -> web.Response:
    _, cafe = await auth.require_cafe_organiser(request, request.app[CAFES])
    body = await request.app[SERVICES].watch.cafe_list(cafe.id)
    return _page(request, cafe=cafe, association=await _cafe_association(request, cafe),
                 body=body, saved=request.query.get("saved") == "1")


@routes.post("/admin/cafes/{slug}/watched-words")
async def cafe_list_save(request: web.Request) -> web.StreamResponse:
    _, cafe = await auth.require_cafe_organiser(request, request.app[CAFES])
    body = await _list_form(request)
    try:
        await request.app[SERVICES].watch.save_cafe_list(cafe.id, body)
    except InvalidInput as exc:
        return _page(request, cafe=cafe, association=await _cafe_association(request, cafe),
                     body=body, error=_error(request, exc), status=400)
    raise web.HTTPSeeOther(f"/admin/cafes/{cafe.slug}/watched-words?saved=1")


async def _cafe_association(request: web.Request, cafe: Cafe) -> Association:
    return await request.app[CAFES].associations.get_by_id(cafe.association_id)


@routes.get(r"/admin/cafes/{slug}/safeguarding.{fmt:csv|json}", name="evidence")
async def evidence_export(request: web.Request) -> web.Response:
    """The café's reports and moderation log, as evidence (times in the café's zone)."""
    await auth.require_organiser(request, request.app[CAFES])
    cafe = await request.app[CAFES].get(request.match_info["slug"])
    services = request.app[SERVICES]
    reports = await services.reports.all(cafe.id)
    log_entries = await _whole_log(request, cafe)
    timezone = request.app[CONFIG].timezone
    fmt = request.match_info["fmt"]
    if fmt == "json":
        body = evidence.as_json(cafe, reports, log_entries, timezone=timezone,
                                now=request.app[CAFES].clock.now())
        content_type = "application/json"
    else:
        body = evidence.as_csv(reports, log_entries, timezone=timezone)
        content_type = "text/csv"
    log.info("evidence exported cafe=%s format=%s reports=%s actions=%s", cafe.id, fmt,
             len(reports), len(log_entries))
    return web.Response(text=body, content_type=content_type, charset="utf-8", headers={
        "Content-Disposition": f'attachment; filename="{cafe.slug}-signalements.{fmt}"',
        "Cache-Control": "no-store"})


async def _whole_log(request: web.Request, cafe: Cafe) -> list[AuditEntry]:
    moderation = request.app[SERVICES].moderation
    entries: list[AuditEntry] = []
    while True:
        page = await moderation.audit_log(_organiser(cafe), cafe.id, limit=AUDIT_PAGE_MAX,
                                          offset=len(entries))
        entries.extend(page)
        if len(page) < AUDIT_PAGE_MAX:
            return entries


def _organiser(cafe: Cafe) -> Actor:
    # The page is reached by a logged-in organiser only (checked above); the service checks
    # the permission table again.
    return Actor(participant_id=0, cafe_id=cafe.id, role=Role.ORGANISER,
                 pseudonym="organiser")


async def safeguarding_section(request: web.Request, cafe: Cafe) -> dict[str, Any]:
    """The café admin page's safeguarding section: its watched words, its reports and the
    evidence export."""
    services = request.app[SERVICES]
    own = len(await services.watch.cafe_terms(cafe.id))
    reports = await services.reports.all(cafe.id)
    tz = ZoneInfo(request.app[CONFIG].timezone)
    return {
        "id": "safeguarding",
        "title": request.app[CATALOGS].gettext(request[LANG], "Safeguarding"),
        "template": "admin/_safeguarding.html",
        "context": {
            "own_terms": own, "all_terms": len((await services.watch.matcher(cafe.id)).terms),
            "reports": [evidence.report_record(r, tz) | {"at": r.created_at}
                        for r in reversed(reports)][:REPORT_ROWS],
            "open": sum(1 for r in reports if r.status is ReportStatus.OPEN),
        },
    }
