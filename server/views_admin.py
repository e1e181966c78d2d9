"""Organiser pages: login, the list of cafés, the create/edit form, invitation links,
publishing a transcript. Every form carries a CSRF token; every page needs a login."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp_jinja2
from aiohttp import web

from server import auth
from server.keys import CAFES, CATALOGS, CONFIG
from server.throttle import LoginThrottle
from server.urls import local_path
from server.web_errors import LANG
from sessions.cafe import THEMES, Cafe, CafeDraft, validate_draft
from sessions.errors import CauserieError, InvalidInput, PermissionDenied
from sessions.roles import AccountPermission, Role
from signaling import standing
from signaling.keys import HUB
from transcripts.keys import TRANSCRIPTS

log = logging.getLogger("causerie.http")
routes = web.RouteTableDef()
FORM_MAX_BYTES = 64 * 1024


async def _form(request: web.Request) -> Any:
    if request.content_length is not None and request.content_length > FORM_MAX_BYTES:
        raise InvalidInput("This form is too large.")
    form = await request.post()
    value = form.get(auth.CSRF_FIELD)
    await auth.check_csrf(request, value if isinstance(value, str) else None)
    return form


def _field(form: Any, name: str, max_length: int = 5000) -> str:
    value = form.get(name, "")
    if not isinstance(value, str):
        raise InvalidInput("The field %(field)s is not valid.", field=name)
    return value[: max_length + 1]


@routes.get("/login", name="login")
@aiohttp_jinja2.template("login.html")
async def login_form(request: web.Request) -> dict[str, object]:
    return {"next": _safe_next(request.query.get("next", "/admin")), "error": None}


@routes.post("/login")
async def login_submit(request: web.Request) -> web.StreamResponse:
    form = await _form(request)
    next_url = _safe_next(_field(form, "next", 300))
    email = _field(form, "email", 254)
    peer = request.remote or "?"
    account = email.strip().lower()
    throttle = request.app[auth_throttle_key]
    try:
        await throttle.check(peer, account)
        organiser = await auth.authenticate(request.app[CAFES], email, _field(form, "password"))
    except CauserieError as exc:
        error = request.app[CATALOGS].error_message(request[LANG], exc)
        return aiohttp_jinja2.render_template(
            "login.html", request, {"next": next_url, "error": error}, status=exc.http_status)
    if organiser is None:
        await throttle.failed(peer, account)
        log.info("login refused")
        error = request.app[CATALOGS].gettext(request[LANG], "Wrong e-mail or password.")
        return aiohttp_jinja2.render_template(
            "login.html", request, {"next": next_url, "error": error}, status=401)
    await throttle.succeeded(peer, account)
    await auth.login(request, organiser)
    log.info("login organiser=%s", organiser.id)
    raise web.HTTPSeeOther(next_url)


@routes.post("/logout", name="logout")
async def logout(request: web.Request) -> web.StreamResponse:
    await _form(request)
    sid = await auth.logout(request)
    hub = request.app.get(HUB)
    if sid and hub is not None:  # the organiser role ends on this login's open sockets
        await standing.logins_ended(hub, sid=sid)
    raise web.HTTPSeeOther("/")


@routes.get("/admin/password", name="password")
@aiohttp_jinja2.template("admin/password.html")
async def password_form(request: web.Request) -> dict[str, object]:
    await auth.require_organiser(request, request.app[CAFES])
    return {"error": None}


@routes.post("/admin/password")
async def password_change(request: web.Request) -> web.StreamResponse:
    organiser = await auth.require_organiser(request, request.app[CAFES])
    form = await _form(request)
    peer = request.remote or "?"
    throttle = request.app[auth_throttle_key]
    try:
        # The current password is asked again: the throttle guards it as it guards /login.
        await throttle.check(peer, organiser.email)
        await auth.change_password(request, request.app[CAFES], organiser,
                                   _field(form, "current", 200), _field(form, "new", 200))
    except CauserieError as exc:
        if isinstance(exc, PermissionDenied):
            await throttle.failed(peer, organiser.email)
        error = request.app[CATALOGS].error_message(request[LANG], exc)
        return aiohttp_jinja2.render_template(
            "admin/password.html", request, {"error": error}, status=exc.http_status)
    hub = request.app.get(HUB)
    if hub is not None:  # every login of the organiser ended: so does the role on its sockets
        await standing.logins_ended(hub, organiser_id=organiser.id)
    raise web.HTTPSeeOther("/admin?password=changed")


@routes.get("/admin", name="admin")
@aiohttp_jinja2.template("admin/index.html")
async def admin_index(request: web.Request) -> dict[str, object]:
    organiser = await auth.require_organiser(request, request.app[CAFES])
    cafes = request.app[CAFES]
    if organiser.association_id is None:  # the platform administrator alone
        raise web.HTTPSeeOther("/platform")
    association = await cafes.associations.get_by_id(organiser.association_id)
    return {"listing": await cafes.portal(association_id=association.id),
            "association": association}


@routes.get("/admin/cafes/new", name="cafe_new")
@aiohttp_jinja2.template("admin/cafe_form.html")
async def cafe_new(request: web.Request) -> dict[str, object]:
    _association_of(await auth.require_organiser(request, request.app[CAFES]))
    return {"cafe": None, "values": {"language": "fr", "duration_minutes": "60"},
            "errors": None, "themes": THEMES}


@routes.post("/admin/cafes/new")
async def cafe_create(request: web.Request) -> web.StreamResponse:
    organiser = await auth.require_organiser(request, request.app[CAFES])
    form = await _form(request)
    try:
        draft = _draft(request, form, is_new=True)
        cafe = await request.app[CAFES].create_cafe(draft, organiser.id,
                                                    _association_of(organiser))
        for role in (Role.EXPERT, Role.MODERATOR):
            await request.app[CAFES].invite(cafe.id, role)
    except InvalidInput as exc:
        return _form_error(request, None, form, exc)
    raise web.HTTPSeeOther(f"/admin/cafes/{cafe.slug}?created=1")


@routes.get("/admin/cafes/{slug}", name="cafe_admin")
@aiohttp_jinja2.template("admin/cafe_form.html")
async def cafe_admin(request: web.Request) -> dict[str, object]:
    return await _edit_context(request, await _administered(request))


@routes.post("/admin/cafes/{slug}")
async def cafe_update(request: web.Request) -> web.StreamResponse:
    cafe = await _administered(request)
    form = await _form(request)
    slug = cafe.slug
    try:
        draft = _draft(request, form, is_new=False)
        await request.app[CAFES].update_cafe(slug, draft)
    except InvalidInput as exc:
        return _form_error(request, cafe, form, exc)
    raise web.HTTPSeeOther(f"/admin/cafes/{slug}?saved=1")


@routes.post("/admin/cafes/{slug}/invitations")
async def invitation_create(request: web.Request) -> web.StreamResponse:
    cafe = await _administered(request)
    form = await _form(request)
    try:
        role = Role(_field(form, "role", 20))
    except ValueError:
        raise InvalidInput("Unknown role.") from None
    await request.app[CAFES].invite(cafe.id, role)
    raise web.HTTPSeeOther(f"/admin/cafes/{cafe.slug}#invitations")


# At most 18 digits: a larger id is no row (a 404), not an integer overflow in the driver.
@routes.post("/admin/cafes/{slug}/invitations/{invitation_id:\\d{1,18}}/revoke")
async def invitation_revoke(request: web.Request) -> web.StreamResponse:
    cafe = await _administered(request)
    await _form(request)
    invitation_id = int(request.match_info["invitation_id"])
    effects = await request.app[CAFES].revoke_invitation(cafe.id, invitation_id)
    # Whoever joined with it loses the role on their open sockets too, on every process.
    await standing.revoke(request.app[HUB], invitation_id, effects)
    raise web.HTTPSeeOther(f"/admin/cafes/{cafe.slug}#invitations")


@routes.post("/admin/cafes/{slug}/transcript")
async def transcript_publish(request: web.Request) -> web.StreamResponse:
    cafe = await _administered(request)
    form = await _form(request)
    slug = cafe.slug
    choice = _field(form, "publish", 5)
    if choice not in ("0", "1"):  # a damaged form withdraws nothing
        raise InvalidInput("This form is not valid.")
    publish = choice == "1"
    # Speech with too little text, or parts not transcribed: the organiser confirms first
    # (enforced here, not by the page's script).
    if publish and _field(form, "confirm", 5) != "1" and (
            await request.app[TRANSCRIPTS].repo.coverage_warnings(cafe.id)):
        raise web.HTTPSeeOther(f"/admin/cafes/{slug}?confirm_publish=1#transcript")
    await request.app[CAFES].set_transcript_published(slug, publish)
    raise web.HTTPSeeOther(f"/admin/cafes/{slug}#transcript")


async def _administered(request: web.Request) -> Cafe:
    """The café of the URL, for a logged-in organiser of its association (403 otherwise)."""
    return (await auth.require_cafe_organiser(request, request.app[CAFES]))[1]


def _association_of(organiser: auth.Organiser) -> int:
    """The association an organiser creates cafés in (403 for an account of none)."""
    organiser.require(AccountPermission.ADMINISTER_ASSOCIATION, organiser.association_id)
    assert organiser.association_id is not None  # require() refused None
    return organiser.association_id


async def _edit_context(request: web.Request, cafe: Cafe) -> dict[str, object]:
    cafes = request.app[CAFES]
    tz = ZoneInfo(request.app[CONFIG].timezone)
    values = {
        "title": cafe.title, "description": cafe.description, "theme": cafe.theme,
        "language": cafe.language, "glossary": cafe.glossary,
        "starts_at": _form_time(cafe.starts_at, tz),
        "duration_minutes": str(cafe.duration_minutes),
    }
    base = request.app[CONFIG].base_url
    invitations = [
        {"id": inv.id, "role": inv.role.value, "revoked": inv.revoked,
         "expires_at": inv.expires_at, "url": f"{base}/cafes/{cafe.slug}?invite={inv.token}"}
        for inv in await cafes.invitations(cafe.id)
    ]
    return {"cafe": cafe, "values": values, "errors": None, "themes": THEMES,
            "invitations": invitations, "saved": request.query.get("saved") == "1",
            "created": request.query.get("created") == "1",
            "page_url": f"{base}/cafes/{cafe.slug}",
            "confirm_publish": request.query.get("confirm_publish") == "1",
            "publish_warnings": len(await request.app[TRANSCRIPTS].repo.coverage_warnings(
                cafe.id)),
            "extra_sections": [await section(request, cafe) for section in
                               request.app[ADMIN_SECTIONS]]}


def _form_error(request: web.Request, cafe: Cafe | None, form: Any,
                exc: InvalidInput) -> web.Response:
    message = request.app[CATALOGS].error_message(request[LANG], exc)
    values = {k: _field(form, k) for k in ("title", "description", "theme", "language",
                                            "starts_at", "duration_minutes", "glossary")}
    return aiohttp_jinja2.render_template(
        "admin/cafe_form.html", request,
        {"cafe": cafe, "values": values, "errors": message,
         "themes": THEMES, "invitations": [], "extra_sections": [],
         "confirm_publish": False, "publish_warnings": 0},
        status=400)


def _form_time(value: datetime, tz: ZoneInfo) -> str:
    try:
        local = value.astimezone(tz)
    except (OverflowError, ValueError):  # a row outside the forms' bounds: show it in UTC
        local = value
    return local.strftime("%Y-%m-%dT%H:%M")


def _draft(request: web.Request, form: Any, *, is_new: bool) -> CafeDraft:
    tz = ZoneInfo(request.app[CONFIG].timezone)
    raw_start = _field(form, "starts_at", 40)
    try:
        starts_at = datetime.fromisoformat(raw_start)
    except ValueError:
        raise InvalidInput("The start time is not a valid date and time.") from None
    if starts_at.tzinfo is None:
        starts_at = starts_at.replace(tzinfo=tz)
    try:
        duration = int(_field(form, "duration_minutes", 5))
    except ValueError:
        raise InvalidInput("The duration must be a whole number of minutes.") from None
    return validate_draft(
        title=_field(form, "title"), description=_field(form, "description"),
        theme=_field(form, "theme"), language=_field(form, "language", 5),
        starts_at=starts_at, duration_minutes=duration, glossary=_field(form, "glossary"),
        now=request.app[CAFES].clock.now(), is_new=is_new,
    )


def _safe_next(value: str) -> str:
    return local_path(value, "/admin")


# Other packages add sections to the café's admin page (transcript progress, audit log):
# each is an async callable returning {"title": ..., "template": ..., "context": {...}}.
AdminSection = Any
ADMIN_SECTIONS = web.AppKey("admin_sections", list[AdminSection])
auth_throttle_key = web.AppKey("login_throttle", LoginThrottle)
