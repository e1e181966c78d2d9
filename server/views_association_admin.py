"""An association's admin pages (its organisers: profile, logo, fellow organisers and their
invitations), the platform administrator's page (associations and their first organiser),
and the page where an invited organiser makes their account. Who may do what:
`sessions.roles` through `Account`; every form carries a CSRF token."""

from __future__ import annotations

import logging
from typing import Any

import aiohttp_jinja2
from aiohttp import BodyPartReader, web

from server import auth, logos
from server.keys import CAFES, CATALOGS, CONFIG
from server.login_sessions import LOGIN_STORE
from server.views_admin import _field, _form
from server.web_errors import LANG
from sessions import figures
from sessions.associations import SLUG_MAX, Association, validate_association
from sessions.cafe import clean_text
from sessions.errors import CauserieError, InvalidInput, PermissionDenied
from sessions.roles import AccountPermission

log = logging.getLogger("causerie.http")
routes = web.RouteTableDef()
# A logo form: the file, the CSRF token and multipart's own framing.
LOGO_FORM_MAX = logos.LOGO_MAX + 16 * 1024


def _base(request: web.Request) -> str:
    return request.app[CONFIG].base_url


async def _administered(request: web.Request) -> tuple[auth.Organiser, Association]:
    organiser = await auth.require_organiser(request, request.app[CAFES])
    association = await request.app[CAFES].associations.administered(
        organiser, request.match_info["slug"][:SLUG_MAX])
    return organiser, association


async def _profile_context(request: web.Request, organiser: auth.Organiser,
                           association: Association, *, error: str | None = None,
                           values: dict[str, str] | None = None) -> dict[str, Any]:
    service = request.app[CAFES].associations
    invitations = [i for i in await service.invitations(organiser, association)
                   if not i.used and not i.revoked]
    return {
        "association": association,
        "values": values or {"name": association.name, "description": association.description,
                             "website": association.website, "colour": association.colour,
                             "help_numbers": association.help_numbers},
        "organisers": await service.organisers(organiser, association),
        "invitations": [{"id": i.id, "expires_at": i.expires_at,
                         "url": f"{_base(request)}/organisers/join?token={i.token}"}
                        for i in invitations],
        "me": organiser.id, "error": error,
        "saved": request.query.get("saved"), "logo_max_mb": logos.LOGO_MAX // (1024 * 1024),
    }


@routes.get("/admin/associations/{slug}", name="association_admin")
async def association_admin(request: web.Request) -> web.Response:
    organiser, association = await _administered(request)
    return aiohttp_jinja2.render_template(
        "admin/association.html", request,
        await _profile_context(request, organiser, association))


def _error(request: web.Request, exc: CauserieError) -> str:
    return request.app[CATALOGS].error_message(request[LANG], exc)


@routes.post("/admin/associations/{slug}")
async def association_update(request: web.Request) -> web.StreamResponse:
    organiser, association = await _administered(request)
    form = await _form(request)
    values = {k: _field(form, k, 2000) for k in ("name", "description", "website", "colour",
                                                   "help_numbers")}
    try:
        await request.app[CAFES].associations.update(
            organiser, association.slug, validate_association(**values))
    except InvalidInput as exc:
        return aiohttp_jinja2.render_template(
            "admin/association.html", request,
            await _profile_context(request, organiser, association,
                                   error=_error(request, exc), values=values), status=400)
    raise web.HTTPSeeOther(f"/admin/associations/{association.slug}?saved=profile")


@routes.post("/admin/associations/{slug}/logo")
async def association_logo(request: web.Request) -> web.StreamResponse:
    organiser, association = await _administered(request)
    try:
        data = await _logo_upload(request)
        name, content_type = logos.store(request.app[CONFIG].data_dir, data)
    except InvalidInput as exc:
        return aiohttp_jinja2.render_template(
            "admin/association.html", request,
            await _profile_context(request, organiser, association,
                                   error=_error(request, exc)), status=400)
    old = await request.app[CAFES].associations.set_logo(organiser, association.slug, name,
                                                         content_type)
    logos.remove(request.app[CONFIG].data_dir, old)
    raise web.HTTPSeeOther(f"/admin/associations/{association.slug}?saved=logo")


async def _logo_upload(request: web.Request) -> bytes:
    """The uploaded file of a multipart form whose CSRF token comes first (the page's form
    puts it first); past `LOGO_FORM_MAX` nothing more is read."""
    if request.content_length is not None and request.content_length > LOGO_FORM_MAX:
        raise InvalidInput("The logo is too large (at most 1 MB).")
    if not request.content_type.startswith("multipart/"):
        raise InvalidInput("Choose an image file for the logo.")
    reader = await request.multipart()
    token: str | None = None
    data: bytes | None = None
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader):
            raise InvalidInput("This form is not valid.")
        if part.name == auth.CSRF_FIELD:
            token = (await part.read_chunk(200)).decode("ascii", "replace")
        elif part.name == "logo":
            await auth.check_csrf(request, token)  # before reading a byte of the file
            data = await logos.read_upload(part)
        else:
            await part.release()
    if data is None:
        await auth.check_csrf(request, token)
        raise InvalidInput("Choose an image file for the logo.")
    return data


@routes.post("/admin/associations/{slug}/logo/remove")
async def association_logo_remove(request: web.Request) -> web.StreamResponse:
    organiser, association = await _administered(request)
    await _form(request)
    old = await request.app[CAFES].associations.set_logo(organiser, association.slug, None,
                                                         None)
    logos.remove(request.app[CONFIG].data_dir, old)
    raise web.HTTPSeeOther(f"/admin/associations/{association.slug}?saved=logo")


@routes.post("/admin/associations/{slug}/organisers/invitations")
async def organiser_invite(request: web.Request) -> web.StreamResponse:
    organiser, association = await _administered(request)
    await _form(request)
    await request.app[CAFES].associations.invite_organiser(organiser, association)
    raise web.HTTPSeeOther(f"/admin/associations/{association.slug}#organisers")


@routes.post("/admin/associations/{slug}/organisers/invitations/{invitation_id:\\d{1,18}}"
             "/revoke")
async def organiser_invitation_revoke(request: web.Request) -> web.StreamResponse:
    organiser, association = await _administered(request)
    await _form(request)
    await request.app[CAFES].associations.revoke_invitation(
        organiser, association, int(request.match_info["invitation_id"]))
    raise web.HTTPSeeOther(f"/admin/associations/{association.slug}#organisers")


@routes.post("/admin/associations/{slug}/organisers/{organiser_id:\\d{1,18}}/remove")
async def organiser_remove(request: web.Request) -> web.StreamResponse:
    organiser, association = await _administered(request)
    await _form(request)
    removed = int(request.match_info["organiser_id"])
    try:
        await request.app[CAFES].associations.remove_organiser(organiser, association, removed)
    except InvalidInput as exc:
        return aiohttp_jinja2.render_template(
            "admin/association.html", request,
            await _profile_context(request, organiser, association,
                                   error=_error(request, exc)), status=400)
    # Their logins end on every browser (the account is gone; the store forgets them too).
    await request.app[LOGIN_STORE].remove_organiser(removed)
    if removed == organiser.id:
        await auth.logout(request)
        raise web.HTTPSeeOther("/")
    raise web.HTTPSeeOther(f"/admin/associations/{association.slug}#organisers")


@routes.get("/admin/associations/{slug}/figures", name="association_figures")
async def association_figures(request: web.Request) -> web.Response:
    organiser, association = await _administered(request)
    cafes = await request.app[CAFES].associations.figures(organiser, association)
    return aiohttp_jinja2.render_template("admin/figures.html", request, {
        "association": association, "cafes": cafes,
        "by_theme": figures.totals(cafes, lambda c: c.theme),
        "by_month": figures.totals(cafes, lambda c: c.month),
    })


@routes.get("/admin/associations/{slug}/figures.csv", name="association_figures_csv")
async def association_figures_csv(request: web.Request) -> web.Response:
    organiser, association = await _administered(request)
    cafes = await request.app[CAFES].associations.figures(organiser, association)
    return web.Response(text=figures.to_csv(cafes), content_type="text/csv", charset="utf-8",
                        headers={"Content-Disposition":
                                 f'attachment; filename="{association.slug}-figures.csv"',
                                 "Cache-Control": "no-store"})


# -- the platform administrator ------------------------------------------------------------


async def _platform_admin(request: web.Request) -> auth.Organiser:
    account = await auth.require_organiser(request, request.app[CAFES])
    if not account.can(AccountPermission.MANAGE_ASSOCIATIONS):
        raise PermissionDenied("Only the platform administrator creates associations.")
    return account


async def _platform_context(request: web.Request, account: auth.Organiser, *,
                            error: str | None = None,
                            values: dict[str, str] | None = None) -> dict[str, Any]:
    service = request.app[CAFES].associations
    rows = []
    for association in await service.all():
        pending = [i for i in await service.invitations(account, association)
                   if not i.used and not i.revoked]
        rows.append({
            "association": association,
            "organisers": len(await service.organisers(account, association)),
            "invitations": [f"{_base(request)}/organisers/join?token={i.token}"
                            for i in pending],
        })
    empty = dict.fromkeys(("name", "slug", "website", "description", "colour",
                           "help_numbers"), "")
    return {"rows": rows, "error": error, "values": values or empty,
            "created": request.query.get("created")}


@routes.get("/platform", name="platform")
async def platform_page(request: web.Request) -> web.Response:
    account = await _platform_admin(request)
    return aiohttp_jinja2.render_template("admin/platform.html", request,
                                          await _platform_context(request, account))


@routes.post("/platform/associations")
async def platform_create(request: web.Request) -> web.StreamResponse:
    account = await _platform_admin(request)
    form = await _form(request)
    values = {k: _field(form, k, 2000) for k in ("name", "slug", "website", "description",
                                                   "colour", "help_numbers")}
    service = request.app[CAFES].associations
    try:
        draft = validate_association(name=values["name"], website=values["website"],
                                     description=values["description"],
                                     colour=values["colour"],
                                     help_numbers=values["help_numbers"])
        association = await service.create(account, draft, values["slug"].strip() or None)
    except InvalidInput as exc:
        return aiohttp_jinja2.render_template(
            "admin/platform.html", request,
            await _platform_context(request, account, error=_error(request, exc),
                                    values=values), status=400)
    # The link for its first organiser, shown on the platform page.
    await service.invite_organiser(account, association)
    raise web.HTTPSeeOther(f"/platform?created={association.slug}#association-"
                           f"{association.slug}")


@routes.post("/platform/associations/{slug}/invitations")
async def platform_invite(request: web.Request) -> web.StreamResponse:
    account = await _platform_admin(request)
    await _form(request)
    service = request.app[CAFES].associations
    association = await service.get(request.match_info["slug"][:SLUG_MAX])
    await service.invite_organiser(account, association)
    raise web.HTTPSeeOther(f"/platform#association-{association.slug}")


# -- an invited organiser makes their account ------------------------------------------------


@routes.get("/organisers/join", name="organiser_join")
async def organiser_join_form(request: web.Request) -> web.Response:
    token = request.query.get("token", "")[:400]
    _, association = await request.app[CAFES].associations.check_invitation(token)
    return aiohttp_jinja2.render_template(
        "organiser_join.html", request,
        {"association": association, "token": token, "error": None,
         "values": {"name": "", "email": ""}})


@routes.post("/organisers/join")
async def organiser_join(request: web.Request) -> web.StreamResponse:
    form = await _form(request)
    token = _field(form, "token", 400)
    service = request.app[CAFES].associations
    _, association = await service.check_invitation(token)
    values = {"email": _field(form, "email", 254), "name": _field(form, "name", 80)}
    try:
        email = auth.validate_email(values["email"])
        name = clean_text(values["name"], field="name", max_length=80)
        password_hash = await auth.hash_password(
            auth.validate_password(_field(form, "password", 200)))
        organiser_id, association = await service.accept_invitation(
            token, email=email, display_name=name, password_hash=password_hash)
    except InvalidInput as exc:
        return aiohttp_jinja2.render_template(
            "organiser_join.html", request,
            {"association": association, "token": token, "error": _error(request, exc),
             "values": values}, status=400)
    account = await request.app[CAFES].account(organiser_id)
    assert account is not None  # just made
    await auth.login(request, account)
    log.info("organiser joined by invitation organiser=%s association=%s", organiser_id,
             association.id)
    raise web.HTTPSeeOther("/admin")
