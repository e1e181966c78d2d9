"""Associations' public pages and admin pages through the real app (issue 12): the portal
shows each café's association and filters by it, `/associations/<slug>` lists its cafés,
the café page shows its logo and colour, search filters by association; logo uploads are
checked; organisers invite others by a signed, expiring, single-use link and remove them
(never the last one); the platform administrator creates associations. Both databases where
rows are read."""

from __future__ import annotations

import dataclasses
import io
import re
import struct
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from association_support import PASSWORD, Side, logged_in, make_side
from search_support import Seg, add_cafe

from server.app import create_app
from server.auth import create_organiser
from server.config import load_config
from server.keys import CAFES, DATABASE
from sessions.clock import FixedClock
from sessions.storage.tables import cafes as cafes_table


def tiny_png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xaa\x33\x55")
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels)
            + chunk(b"IEND", b""))


@dataclass
class Site:
    server: TestServer
    app: web.Application
    clock: FixedClock
    a: Side
    b: Side
    data_dir: Path

    def url(self, path: str) -> str:
        return str(self.server.make_url(path))

    async def get(self, path: str, headers: dict[str, str] | None = None
                  ) -> tuple[int, str, Any]:
        async with aiohttp.ClientSession() as http, http.get(
                self.url(path), headers=headers or {}, allow_redirects=False) as response:
            return response.status, await response.text(errors="replace"), response.headers

    async def post(self, path: str, side_headers: dict[str, str], data: Any,
                   ) -> tuple[int, str, Any]:
        async with aiohttp.ClientSession() as http, http.post(
                self.url(path), headers=side_headers, data=data,
                allow_redirects=False) as response:
            return response.status, await response.text(errors="replace"), response.headers


@pytest.fixture
async def site(database_url: str, tmp_path: Path) -> AsyncIterator[Site]:
    data_dir = tmp_path / "var"
    config = load_config(data_dir=data_dir, database_url=database_url,
                         secret_key="test-secret-key-0123456789-abcdefghijklmnop",
                         ice={"host_addresses": ["127.0.0.1"]})
    clock = FixedClock()
    app = create_app(config, clock=clock)
    server = TestServer(app)
    await server.start_server()
    a = await make_side(app, clock, None)
    b = await make_side(app, clock, "Les Pères en réseau", live=True)
    yield Site(server, app, clock, a, b, data_dir)
    await server.close()


async def _upload(site: Site, side: Side, body: bytes, filename: str,
                  content_type: str) -> tuple[int, str, Any]:
    form = aiohttp.FormData()
    form.add_field("csrf_token", side.csrf)
    form.add_field("logo", io.BytesIO(body), filename=filename, content_type=content_type)
    return await site.post(f"/admin/associations/{side.association.slug}/logo", side.headers,
                           form)


async def test_portal_shows_and_filters_by_association(site: Site) -> None:
    status, html, _ = await site.get("/")
    assert status == 200
    assert site.a.association.name in html and site.b.association.name in html
    assert site.a.cafe.title in html and site.b.cafe.title in html
    status, html, _ = await site.get(f"/?association={site.b.association.slug}")
    assert status == 200 and site.b.cafe.title in html and site.a.cafe.title not in html
    _, html, _ = await site.get("/?association=nobody-here")
    assert site.a.cafe.title not in html and site.b.cafe.title not in html
    _, html, _ = await site.get(f"/?association={site.b.association.slug}&theme=fake-news")
    assert site.b.cafe.title not in html


async def test_association_page_lists_its_cafes(site: Site) -> None:
    status, html, _ = await site.get(f"/associations/{site.b.association.slug}")
    assert status == 200
    live = html.split('id="live-title"')[1].split('id="upcoming-title"')[0]
    assert site.b.cafe.title in live and site.a.cafe.title not in html
    status, html, _ = await site.get(f"/associations/{site.a.association.slug}")
    upcoming = html.split('id="upcoming-title"')[1].split('id="past-title"')[0]
    assert site.a.cafe.title in upcoming and site.b.cafe.title not in html
    assert (await site.get("/associations/nobody-here"))[0] == 404


async def test_cafe_page_shows_its_association_logo_and_colour(site: Site) -> None:
    assert (await _upload(site, site.b, tiny_png(), "logo.png", "image/png"))[0] == 303
    status, html, _ = await site.get(f"/cafes/{site.b.cafe.slug}")
    assert status == 200
    slug = site.b.association.slug
    assert site.b.association.name in html
    assert f'src="/associations/{slug}/logo"' in html
    assert f'href="/associations/{slug}/theme.css"' in html
    status, css, headers = await site.get(f"/associations/{slug}/theme.css")
    assert status == 200 and "--association-colour: #aa3355" in css
    assert headers["Content-Type"].startswith("text/css")
    status, _, headers = await site.get(f"/associations/{slug}/logo")
    assert status == 200 and headers["Content-Type"] == "image/png"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in headers["Content-Security-Policy"]


async def test_search_filters_by_association(site: Site) -> None:
    db = site.app[DATABASE]
    cafe_id = await add_cafe(db, "harcelement-b", segs=[
        Seg(0, 4, "Expert", "Le harcèlement en ligne se signale au 3018.")])
    async with db.transaction() as conn:
        await conn.execute(cafes_table.update().where(cafes_table.c.id == cafe_id)
                           .values(association_id=site.b.association.id))
    await add_cafe(db, "harcelement-a", segs=[
        Seg(0, 4, "Expert", "Le harcèlement à l'école se dit aux enseignants.")])
    import json

    async def slugs(query: str) -> set[str]:
        status, body, _ = await site.get(f"/api/search?q=harcèlement{query}")
        assert status == 200, body
        return {hit["cafe"]["slug"] for hit in json.loads(body)["hits"]}

    assert await slugs("") == {"harcelement-a", "harcelement-b"}
    assert await slugs(f"&association={site.b.association.slug}") == {"harcelement-b"}
    assert await slugs(f"&association={site.a.association.slug}") == {"harcelement-a"}
    assert await slugs("&association=nobody-here") == set()
    status, html, _ = await site.get(
        f"/search?q=harcèlement&association={site.b.association.slug}")
    assert status == 200 and "3018" in html and "enseignants" not in html
    assert f'<option value="{site.b.association.slug}" selected>' in html


@pytest.mark.parametrize(("body", "filename", "content_type", "message"), [
    (b"\x89PNG\r\n\x1a\n" + b"\0" * (1024 * 1024), "big.png", "image/png", "1 Mo au plus"),
    (b"<html><script>alert(1)</script></html>", "logo.png", "image/png", "PNG, JPEG"),
    (b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "logo.svg",
     "image/svg+xml", "PNG, JPEG"),
    (b"GIF8", "logo.gif", "image/gif", "PNG, JPEG"),
])
async def test_bad_logos_refused_with_a_clear_message(site: Site, body: bytes, filename: str,
                                                      content_type: str, message: str) -> None:
    status, html, _ = await _upload(site, site.a, body, filename, content_type)
    assert status == 400 and message in html.replace("\u202f", " ").replace("\xa0", " ")
    assert (await site.app[CAFES].associations.get(site.a.association.slug)).logo is None
    assert not list((site.data_dir / "logos").glob("*")) if (
        site.data_dir / "logos").exists() else True


async def test_logo_upload_needs_csrf_and_own_association(site: Site) -> None:
    form = aiohttp.FormData()
    form.add_field("csrf_token", "wrong")
    form.add_field("logo", io.BytesIO(tiny_png()), filename="logo.png",
                   content_type="image/png")
    slug = site.a.association.slug
    assert (await site.post(f"/admin/associations/{slug}/logo", site.a.headers, form))[0] == 403
    # B's organiser on A's logo, with B's own valid token
    assert (await _upload(site, Side(site.a.association, site.b.organiser_id, site.b.cafe,
                                     site.b.cookie, site.b.csrf), tiny_png(), "l.png",
                          "image/png"))[0] == 403


async def test_organiser_of_a_gets_403_on_association_b_admin(site: Site) -> None:
    slug = site.b.association.slug
    invitation = await site.app[CAFES].associations.invite_organiser(
        _account(site, site.b), site.b.association)
    token = site.a.csrf
    for path, data in (
        (f"/admin/associations/{slug}", {"csrf_token": token, "name": "Prise"}),
        (f"/admin/associations/{slug}/organisers/invitations", {"csrf_token": token}),
        (f"/admin/associations/{slug}/organisers/invitations/{invitation.id}/revoke",
         {"csrf_token": token}),
        (f"/admin/associations/{slug}/organisers/{site.b.organiser_id}/remove",
         {"csrf_token": token}),
        (f"/admin/associations/{slug}/logo/remove", {"csrf_token": token}),
    ):
        assert (await site.post(path, site.a.headers, data))[0] == 403, path
    for path in (f"/admin/associations/{slug}", f"/admin/associations/{slug}/figures",
                 f"/admin/associations/{slug}/figures.csv", "/platform"):
        assert (await site.get(path, site.a.headers))[0] == 403, path
    after = await site.app[CAFES].associations.get(slug)
    assert after.name == site.b.association.name
    assert not any(i.revoked for i in await site.app[CAFES].associations.invitations(
        _account(site, site.b), site.b.association))


def _account(site: Site, side: Side) -> Any:
    from sessions.actors import Account

    return Account(side.organiser_id, "x@example.org", "X",
                   association_id=side.association.id)


async def test_invited_organiser_joins_by_link_once(site: Site) -> None:
    slug = site.b.association.slug
    status, _, _ = await site.post(f"/admin/associations/{slug}/organisers/invitations",
                                   site.b.headers, {"csrf_token": site.b.csrf})
    assert status == 303
    _, html, _ = await site.get(f"/admin/associations/{slug}", site.b.headers)
    link = re.search(r'value="(http[^"]+/organisers/join\?token=[^"]+)"', html)
    assert link, html
    path = link.group(1).split("127.0.0.1:8080", 1)[-1]
    status, page, _ = await site.get(path)
    assert status == 200 and site.b.association.name in page
    token = path.split("token=", 1)[1]
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.get(site.url(path)) as response:
            form_html = await response.text()
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', form_html)
        assert csrf
        async with http.post(site.url("/organisers/join"), allow_redirects=False, data={
                "csrf_token": csrf.group(1), "token": token, "name": "Nouvelle",
                "email": "nouvelle@example.org", "password": PASSWORD}) as response:
            assert response.status == 303 and response.headers["Location"] == "/admin"
        async with http.get(site.url("/admin")) as response:
            mine = await response.text()
            assert response.status == 200
    assert site.b.cafe.title in mine and site.a.cafe.title not in mine
    # used up: the same link opens nothing any more
    assert (await site.get(path))[0] == 403
    organisers = await site.app[CAFES].associations.organisers(
        _account(site, site.b), site.b.association)
    assert {o["email"] for o in organisers} >= {"nouvelle@example.org"}


async def test_expired_and_revoked_organiser_links_refused(site: Site) -> None:
    service = site.app[CAFES].associations
    account = _account(site, site.b)
    expiring = await service.invite_organiser(account, site.b.association)
    revoked = await service.invite_organiser(account, site.b.association)
    await service.revoke_invitation(account, site.b.association, revoked.id)
    assert (await site.get(f"/organisers/join?token={revoked.token}"))[0] == 403
    site.clock.advance(service.invitation_ttl.total_seconds() + 60)
    assert (await site.get(f"/organisers/join?token={expiring.token}"))[0] == 403
    assert (await site.get("/organisers/join?token=forged.token.here"))[0] == 403


async def test_remove_organiser_but_never_the_last(site: Site) -> None:
    slug = site.b.association.slug
    second = await create_organiser(site.app[CAFES], "second@example.org", "Second", PASSWORD,
                                    association_id=site.b.association.id)
    cookie, _ = await logged_in(site.app, second)
    status, _, _ = await site.post(f"/admin/associations/{slug}/organisers/{second}/remove",
                                   site.b.headers, {"csrf_token": site.b.csrf})
    assert status == 303
    # the removed organiser's login opens nothing any more
    status, _, headers = await site.get("/admin", {"Cookie": f"causerie_session={cookie}"})
    assert status == 303 and headers["Location"].startswith("/login")
    status, html, _ = await site.post(
        f"/admin/associations/{slug}/organisers/{site.b.organiser_id}/remove", site.b.headers,
        {"csrf_token": site.b.csrf})
    assert status == 400 and "Le dernier organisateur d’une association" in html
    assert (await site.get("/admin", site.b.headers))[0] == 200


async def test_platform_admin_creates_an_association(site: Site) -> None:
    admin = await create_organiser(site.app[CAFES], "root@example.org", "Hôte", PASSWORD,
                                   platform_admin=True)
    cookie, csrf = await logged_in(site.app, admin)
    headers = {"Cookie": f"causerie_session={cookie}"}
    status, _, location = await site.get("/admin", headers)
    assert status == 303 and location["Location"] == "/platform"
    status, _, _ = await site.post("/platform/associations", headers, {
        "csrf_token": csrf, "name": "e-Enfance", "slug": "e-enfance",
        "website": "https://e-enfance.example.org", "colour": "#123456", "description": "",
        "help_numbers": "3018 Cyber-harcèlement"})
    assert status == 303
    status, html, _ = await site.get("/platform", headers)
    assert status == 200 and "e-Enfance" in html and "/organisers/join?token=" in html
    duplicate = await site.post("/platform/associations", headers, {
        "csrf_token": csrf, "name": "Autre", "slug": "e-enfance"})
    assert duplicate[0] == 400 and "Une association a déjà cet identifiant." in duplicate[1]
    too_long = await site.post("/platform/associations", headers, {
        "csrf_token": csrf, "name": "Autre", "slug": "a" * 61})
    assert too_long[0] == 400
    # the platform administrator runs no café
    assert (await site.get(f"/admin/cafes/{site.a.cafe.slug}", headers))[0] == 403
    assert (await site.get("/admin/cafes/new", headers))[0] == 403


async def test_logo_replaced_and_old_file_removed(site: Site) -> None:
    assert (await _upload(site, site.a, tiny_png(), "a.png", "image/png"))[0] == 303
    first = (await site.app[CAFES].associations.get(site.a.association.slug)).logo
    jpeg = b"\xff\xd8\xff\xe0" + b"\0" * 100
    # a JPEG named .png is stored as what it is
    assert (await _upload(site, site.a, jpeg, "b.png", "image/png"))[0] == 303
    second = await site.app[CAFES].associations.get(site.a.association.slug)
    assert second.logo != first and second.logo_type == "image/jpeg"
    assert sorted(p.name for p in (site.data_dir / "logos").iterdir()) == [second.logo]
    _ = timedelta


async def test_figures_per_cafe_theme_and_month_with_csv(site: Site) -> None:
    from qa_support import join

    from sessions.storage.tables import questions, reports

    db = site.app[DATABASE]
    cafe_id = site.b.cafe.id
    parents = [await join(db, site.clock, cafe_id, f"Parent {i}") for i in range(3)]
    statuses = ["pending", "approved", "answering", "answered", "answered", "rejected",
                "withdrawn"]
    async with db.transaction() as conn:
        for i, question_status in enumerate(statuses):
            now = site.clock.now()
            await conn.execute(questions.insert().values(
                cafe_id=cafe_id, author_id=parents[i % 3].participant_id, text="Q ?",
                original_text="Q ?", status=question_status, created_at=now, updated_at=now))
        await conn.execute(reports.insert().values(
            cafe_id=cafe_id, reporter_id=parents[0].participant_id, kind="participant",
            target_id=parents[1].participant_id, target_pseudonym="Parent 1",
            reason="other", status="open", created_at=site.clock.now()))
    slug = site.b.association.slug
    status, html, _ = await site.get(f"/admin/associations/{slug}/figures", site.b.headers)
    assert status == 200
    row = html.split('id="figures-cafes"')[1].split("</tr>")[1]
    cells = re.findall(r"<td>([^<]*)</td>", row)
    # peak not recorded (—) · parents 3 · asked 6 (a withdrawn one is not counted) ·
    # approved 4 · answered 2 · unanswered 2 · reports 1
    assert cells[1:8] == ["—", "3", "6", "4", "2", "2", "1"], cells
    assert site.a.cafe.title not in html
    assert "<td>écrans</td><td>1</td><td>—</td>" in html.split('id="figures-themes"')[1]
    month = f"{site.b.cafe.starts_at:%Y-%m}"
    assert month in html.split('id="figures-months"')[1]
    status, body, headers = await site.get(f"/admin/associations/{slug}/figures.csv",
                                           site.b.headers)
    assert status == 200 and headers["Content-Type"].startswith("text/csv")
    assert "attachment" in headers["Content-Disposition"]
    lines = body.strip().splitlines()
    assert lines[0].startswith("slug,title,theme,starts_at,status,peak_parents,parents,questions")
    assert len(lines) == 2 and lines[1].startswith(site.b.cafe.slug)
    assert ",,3,6,4,2,2,1," in lines[1]

    # Peaks recorded: a second café of the same theme and month, with a higher peak. By
    # theme and month the peak is the highest one (30), not their sum; the counts add up.
    second = await site.app[CAFES].create_cafe(
        dataclasses.replace(_draft_of(site.b.cafe), title="Deuxième café"),
        site.b.organiser_id, site.b.association.id)
    for p in range(4):
        await join(db, site.clock, second.id, f"Autre {p}")
    async with db.transaction() as conn:
        for which, peak in ((cafe_id, 3), (second.id, 30)):
            await conn.execute(cafes_table.update().where(cafes_table.c.id == which)
                               .values(peak_parents=peak))
    _, html, _ = await site.get(f"/admin/associations/{slug}/figures", site.b.headers)
    per_cafe = [re.findall(r"<td>([^<]*)</td>", r)[1:3]
                for r in html.split('id="figures-cafes"')[1].split("</tbody>")[0]
                .split("</tr>")[1:-1]]
    assert sorted(per_cafe) == [["3", "3"], ["30", "4"]], per_cafe
    assert "<td>écrans</td><td>2</td><td>30</td><td>7</td>" in html.split(
        'id="figures-themes"')[1]
    assert f"<td>{month}</td><td>2</td><td>30</td><td>7</td>" in html.split(
        'id="figures-months"')[1]
    assert "pas une somme" in html  # the page says the aggregate peak is a max
    _, body, _ = await site.get(f"/admin/associations/{slug}/figures.csv", site.b.headers)
    assert sorted(line.split(",")[5:7] for line in body.strip().splitlines()[1:]) == [
        ["3", "3"], ["30", "4"]]


def _draft_of(cafe: Any) -> Any:
    from sessions.cafe import CafeDraft

    return CafeDraft(title=cafe.title, description="", theme=cafe.theme,
                     language=cafe.language, starts_at=cafe.starts_at,
                     duration_minutes=cafe.duration_minutes)


async def test_cafe_banner_falls_back_to_its_association_numbers(site: Site) -> None:
    from sessions.associations import validate_association

    service = site.app[CAFES].associations
    await service.update(_account(site, site.b), site.b.association.slug, validate_association(
        name=site.b.association.name, help_numbers="0 800 00 12 34 Écoute des pères"))
    _, page_b, _ = await site.get(f"/cafes/{site.b.cafe.slug}")
    _, page_a, _ = await site.get(f"/cafes/{site.a.cafe.slug}")
    banner_b = page_b.split('class="help-banner', 1)[1].split("</aside>", 1)[0]
    banner_a = page_a.split('class="help-banner', 1)[1].split("</aside>", 1)[0]
    assert 'href="tel:0800001234"' in banner_b and "Écoute des pères" in banner_b
    assert "tel:3018" not in banner_b
    assert "tel:3018" in banner_a  # an association without numbers: the defaults
    _, public, _ = await site.get(f"/associations/{site.b.association.slug}")
    assert 'href="tel:0800001234"' in public
