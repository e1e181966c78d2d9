"""The portal, café pages, organiser login and café forms through the real app."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from aiohttp import web
from page_support import PASSWORD, Client, csrf, login, make_cafe

from server.auth import create_organiser
from server.keys import CAFES
from sessions.clock import FixedClock
from sessions.roles import Role
from sessions.storage.tables import cafes


async def test_portal_in_french_by_default_and_english_on_request(
    client: Client, app: web.Application, clock: FixedClock
) -> None:
    await make_cafe(app, clock, "Écrans et sommeil")
    html = await (await client.get("/")).text()
    assert '<html lang="fr">' in html
    assert "À venir" in html and "Écrans et sommeil" in html
    english = await (await client.get("/?lang=en")).text()
    assert "Upcoming" in english
    assert "Upcoming" in await (await client.get("/", headers={"Accept-Language": "en-GB"})).text()
    switched = await client.get("/lang/en?next=/", allow_redirects=False)
    assert switched.status == 303 and switched.cookies["causerie_lang"].value == "en"


async def test_portal_sections_and_theme_filter(
    client: Client, app: web.Application, clock: FixedClock
) -> None:
    await make_cafe(app, clock, "Jeux vidéo en famille", theme="video-games")
    await make_cafe(app, clock, "Réseaux sociaux au collège", theme="social-networks")
    async with app[CAFES].db.transaction() as conn:
        await conn.execute(cafes.update().where(cafes.c.title == "Jeux vidéo en famille")
                           .values(status="live"))
    html = await (await client.get("/")).text()
    live = html.split('id="live-title"')[1].split('id="upcoming-title"')[0]
    assert "Jeux vidéo en famille" in live and "Réseaux sociaux" not in live
    filtered = await (await client.get("/?theme=social-networks")).text()
    assert "Réseaux sociaux au collège" in filtered and "Jeux vidéo en famille" not in filtered


async def test_user_text_is_escaped(client: Client, app: web.Application,
                                    clock: FixedClock) -> None:
    slug = await make_cafe(app, clock, "<script>alert(1)</script> & co")
    for path in ("/", f"/cafes/{slug}"):
        html = await (await client.get(path)).text()
        assert "<script>alert(1)" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in html


async def test_cafe_page_and_unknown_cafe(client: Client, app: web.Application,
                                          clock: FixedClock) -> None:
    slug = await make_cafe(app, clock, "Écrans et sommeil")
    response = await client.get(f"/cafes/{slug}")
    html = await response.text()
    assert response.status == 200
    assert f'data-slug="{slug}"' in html and "Parlons-en." in html
    assert "pas encore commencé" in html
    assert "Content-Security-Policy" in response.headers
    missing = await client.get("/cafes/nope")
    assert missing.status == 404 and "Ce café n’existe pas." in await missing.text()


async def test_admin_needs_login(client: Client) -> None:
    response = await client.get("/admin", allow_redirects=False)
    assert response.status == 303 and response.headers["Location"].startswith("/login")


async def test_wrong_password_and_missing_csrf_refused(
    client: Client, app: web.Application
) -> None:
    await create_organiser(app[CAFES], "orga@example.org", "Orga", PASSWORD)
    token = await csrf(client, "/login")
    wrong = await client.post("/login", data={"email": "orga@example.org", "password": "nope",
                                              "csrf_token": token, "next": "/admin"})
    assert wrong.status == 401 and "incorrect" in await wrong.text()
    no_csrf = await client.post("/login", data={"email": "orga@example.org",
                                                "password": PASSWORD})
    assert no_csrf.status == 403


async def test_login_cookie_is_http_only(client: Client, app: web.Application) -> None:
    await create_organiser(app[CAFES], "orga@example.org", "Orga", PASSWORD)
    token = await csrf(client, "/login")
    response = await client.post("/login", data={"email": "orga@example.org",
                                                 "password": PASSWORD, "csrf_token": token},
                                 allow_redirects=False)
    cookie = response.cookies["causerie_session"]
    assert cookie["httponly"] and cookie["samesite"] == "Lax"


async def test_create_edit_and_invite_through_forms(
    client: Client, app: web.Application, clock: FixedClock
) -> None:
    await login(client, app)
    token = await csrf(client, "/admin/cafes/new")
    created = await client.post("/admin/cafes/new", data={
        "csrf_token": token, "title": "Harcèlement : agir", "description": "Avec l'école.",
        "theme": "cyber-harassment", "language": "fr", "starts_at": "2026-12-01T20:00",
        "duration_minutes": "90", "glossary": "3018"}, allow_redirects=False)
    assert created.status == 303, await created.text()
    location = created.headers["Location"]
    # The admin page of the new café, with its confirmation (`?created=1`).
    admin = location.split("?", 1)[0]
    assert location == f"{admin}?created=1"
    page = await (await client.get(location)).text()
    assert "Harcèlement : agir" in page
    links = re.findall(r'value="(http://[^"]+\?invite=[^"]+)"', page)
    assert len(links) == 2  # an expert and a moderator link
    slug = admin.rsplit("/", 1)[1]
    cafe = await app[CAFES].get(slug)
    assert cafe.starts_at.isoformat() == "2026-12-01T19:00:00+00:00"  # Paris time, stored UTC
    invitations = await app[CAFES].invitations(cafe.id)
    assert {i.role for i in invitations} == {Role.EXPERT, Role.MODERATOR}

    token = await csrf(client, admin)
    edited = await client.post(admin, data={
        "csrf_token": token, "title": "Harcèlement : agir ensemble", "description": "",
        "theme": "cyber-harassment", "language": "fr", "starts_at": "2026-12-01T20:30",
        "duration_minutes": "60", "glossary": ""}, allow_redirects=False)
    assert edited.status == 303
    assert (await app[CAFES].get(slug)).title == "Harcèlement : agir ensemble"

    revoke = await client.post(f"{admin}/invitations/{invitations[0].id}/revoke",
                               data={"csrf_token": token}, allow_redirects=False)
    assert revoke.status == 303
    assert (await app[CAFES].invitations(cafe.id))[0].revoked


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("title", "", "obligatoire"),
        ("title", "x" * 161, "trop long"),
        ("starts_at", "2020-01-01T10:00", "dans le futur"),
        ("starts_at", "demain", "date et une heure"),
        ("duration_minutes", "5", "comprise entre"),
        ("theme", "<b>bold</b>", "lettres"),
        ("language", "de", "Langue inconnue"),
    ],
)
async def test_bad_form_gives_clear_error_and_writes_nothing(
    client: Client, app: web.Application, field: str, value: str, message: str
) -> None:
    await login(client, app)
    token = await csrf(client, "/admin/cafes/new")
    data = {"csrf_token": token, "title": "Un café", "description": "", "theme": "screens",
            "language": "fr", "starts_at": "2026-12-01T20:00", "duration_minutes": "60",
            "glossary": ""}
    data[field] = value
    response = await client.post("/admin/cafes/new", data=data)
    assert response.status == 400
    assert message in await response.text()
    async with app[CAFES].db.connect() as conn:
        assert await conn.scalar(sa.select(sa.func.count()).select_from(cafes)) == 0


async def test_healthz_and_metrics(client: Client) -> None:
    health = await client.get("/healthz")
    assert health.status == 200 and (await health.json())["database"] == "ok"
    await client.get("/")
    metrics = await (await client.get("/metrics")).text()
    assert 'causerie_http_requests_total{method="GET",route="/",status="200"}' in metrics
    for name in ("causerie_socket_connections", "causerie_media_subscribers",
                 "causerie_media_packets_out_total"):
        assert f"\n{name} " in metrics, name
