"""Findings 4, 5 and 9 of the adversarial review (issue 8): open redirects, far-away café
dates and the 500s of the edit form, the search and the invitation routes."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime
from urllib.parse import unquote, urljoin, urlsplit

import pytest
import sqlalchemy as sa
from aiohttp import web
from page_support import PASSWORD, Client, csrf, login, make_cafe

from server.keys import CAFES
from sessions.clock import FixedClock
from sessions.storage.tables import cafes

# Each value was sent by the review, or is a variant a browser reads as another origin.
HOSTILE_NEXT = [
    "/%09/evil.example", "/%0A/evil.example", "/%0D/evil.example", "/%0D%0A/evil.example",
    "//evil.example", "/\\evil.example", "\\\\evil.example", "%5C%5Cevil.example",
    "/%5Cevil.example", "https:evil.example", "https://evil.example", "http:/evil.example",
    "javascript:alert(1)", "/%2F/evil.example", "%2F%2Fevil.example", " //evil.example",
    "/\t/evil.example", "/%E3%80%80/evil.example",
]


def _local(location: str) -> bool:
    """What a browser resolves `location` to stays on this origin."""
    cleaned = "".join(ch for ch in location if ch not in "\t\n\r").replace("\\", "/")
    resolved = urlsplit(urljoin("http://causerie.test/here", cleaned))
    return resolved.scheme == "http" and resolved.netloc == "causerie.test"


@pytest.mark.parametrize("target", HOSTILE_NEXT)
async def test_language_switch_never_redirects_off_site(client: Client, target: str) -> None:
    response = await client.get(f"/lang/en?next={target}", allow_redirects=False)
    assert response.status == 303
    location = response.headers["Location"]
    assert _local(location), location
    assert location.startswith("/") and not location.startswith(("//", "/\\"))


async def test_login_never_redirects_off_site(client: Client, app: web.Application) -> None:
    await login(client, app)  # one organiser, every target (argon2 is slow on purpose)
    for target in HOSTILE_NEXT:
        form = await (await client.get(f"/login?next={target}")).text()
        kept = re.search(r'name="next" value="([^"]*)"', form)
        assert kept and _local(html.unescape(kept.group(1))), (target, kept)
        token = await csrf(client, "/login")
        response = await client.post("/login", data={
            "email": "orga@example.org", "password": PASSWORD, "csrf_token": token,
            "next": unquote(target)}, allow_redirects=False)
        assert response.status == 303, await response.text()
        assert _local(response.headers["Location"]), (target, response.headers["Location"])


async def test_local_next_is_kept(client: Client) -> None:
    response = await client.get("/lang/en?next=%2Fcafes%2Fabc%3Ftheme%3Dscreens",
                                allow_redirects=False)
    assert response.headers["Location"] == "/cafes/abc?theme=screens"


# --- finding 5: café dates are bounded, and a bad stored row breaks no page ----------------

FORM = {"title": "Un café", "description": "", "theme": "screens", "language": "fr",
        "starts_at": "2026-12-01T20:00", "duration_minutes": "60", "glossary": ""}


@pytest.mark.parametrize("starts_at", ["9999-12-31T23:30", "9999-12-31T23:30+00:00",
                                       "2028-12-01T20:00", "0001-01-01T00:00",
                                       "0001-01-01T00:00+14:00"])
async def test_create_refuses_dates_out_of_the_window(
    client: Client, app: web.Application, starts_at: str
) -> None:
    await login(client, app)
    token = await csrf(client, "/admin/cafes/new")
    response = await client.post("/admin/cafes/new",
                                 data={**FORM, "starts_at": starts_at, "csrf_token": token})
    assert response.status == 400
    text = await response.text()
    assert "deux ans" in text or "dans le futur" in text, text
    async with app[CAFES].db.connect() as conn:
        assert await conn.scalar(sa.select(sa.func.count()).select_from(cafes)) == 0


async def test_pages_survive_a_far_future_row(client: Client, app: web.Application,
                                              clock: FixedClock) -> None:
    slug = await make_cafe(app, clock, "Écrans et sommeil")
    async with app[CAFES].db.transaction() as conn:
        await conn.execute(cafes.update().where(cafes.c.slug == slug).values(
            starts_at=datetime(9999, 12, 31, 23, 30, tzinfo=UTC)))
    for path in ("/", f"/cafes/{slug}", "/?lang=en"):
        response = await client.get(path)
        assert response.status == 200, (path, await response.text())
        assert "9999" in await response.text()
    await login(client, app)
    for path in ("/admin", f"/admin/cafes/{slug}"):
        response = await client.get(path)
        assert response.status == 200, (path, await response.text())


# --- finding 9: the edit form answers with its message, never a 500 -----------------------

@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("starts_at", "demain", "date et une heure"),
        ("starts_at", "0001-01-01T00:00", "deux ans"),
        ("starts_at", "9999-12-31T23:30", "deux ans"),
        ("title", "x" * 161, "trop long"),
        ("title", "", "obligatoire"),
        ("duration_minutes", "5", "comprise entre"),
        ("duration_minutes", "soixante", "nombre entier"),
        ("duration_minutes", "9" * 30, "comprise entre"),
        ("language", "de", "Langue inconnue"),
    ],
)
async def test_edit_form_errors_show_the_form(
    client: Client, app: web.Application, clock: FixedClock, field: str, value: str,
    message: str,
) -> None:
    slug = await make_cafe(app, clock, "Écrans et sommeil")
    before = await app[CAFES].get(slug)
    await login(client, app)
    token = await csrf(client, f"/admin/cafes/{slug}")
    response = await client.post(f"/admin/cafes/{slug}",
                                 data={**FORM, field: value, "csrf_token": token})
    text = await response.text()
    assert response.status == 400, text
    assert message in text and 'name="title"' in text
    assert await app[CAFES].get(slug) == before


async def test_editing_an_ended_cafe_is_refused_with_its_message(
    client: Client, app: web.Application, clock: FixedClock
) -> None:
    slug = await make_cafe(app, clock, "Écrans et sommeil")
    async with app[CAFES].db.transaction() as conn:
        await conn.execute(cafes.update().where(cafes.c.slug == slug).values(status="ended"))
    before = await app[CAFES].get(slug)
    await login(client, app)
    token = await csrf(client, f"/admin/cafes/{slug}")
    response = await client.post(f"/admin/cafes/{slug}", data={
        **FORM, "starts_at": "2026-12-02T20:00", "csrf_token": token})
    assert response.status == 400
    assert "ne peut plus être modifié" in await response.text()
    assert await app[CAFES].get(slug) == before


@pytest.mark.parametrize("query", ["to=9999-12-31", "from=9999-12-31", "from=0001-01-01",
                                   "to=0001-01-01", "from=0001-01-01&to=9999-12-31",
                                   "to=99999-12-31", "to=2026-02-30", "limit=" + "9" * 30,
                                   "offset=" + "9" * 30, "q=" + "é" * 400])
async def test_search_out_of_range_is_never_a_500(client: Client, query: str) -> None:
    for path in ("/api/search", "/search"):
        response = await client.get(f"{path}?q=écrans&{query}")
        assert response.status in (200, 400), (path, query, await response.text())
        if path == "/api/search" and response.status == 400:
            assert (await response.json())["error"]["code"] == "invalid_query"


async def test_revoking_an_unknown_huge_invitation_id_is_a_404(
    client: Client, app: web.Application, clock: FixedClock
) -> None:
    slug = await make_cafe(app, clock, "Écrans et sommeil")
    await login(client, app)
    token = await csrf(client, f"/admin/cafes/{slug}")
    for invitation_id in ("99999999999999999999", "9223372036854775808", "0"):
        response = await client.post(
            f"/admin/cafes/{slug}/invitations/{invitation_id}/revoke",
            data={"csrf_token": token}, allow_redirects=False)
        assert response.status == 404, (invitation_id, await response.text())
