"""The help banner (issue 11): the 3018 and the 119 by default on the café page, its room
and the transcript page, each a tel: link with its description; the organiser sets the
café's own numbers and privacy notice (French and English, bounded, validated), on SQLite
and PostgreSQL. The join step says the café is recorded and links to the privacy page."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, cast

import pytest
import sqlalchemy as sa
from aiohttp import web
from page_support import Client, csrf, login, make_cafe

from server.app import create_app
from server.config import load_config
from server.keys import CAFES, SERVICES
from sessions.clock import FixedClock
from sessions.help_settings import DEFAULT_HELP
from sessions.storage.tables import cafe_help, cafes


@pytest.fixture
async def site(tmp_path: Path, database_url: str, clock: FixedClock,
               aiohttp_client: Any) -> tuple[Client, web.Application]:
    config = load_config(data_dir=tmp_path / "var", database_url=database_url,
                         secret_key="s" * 48, ice={"host_addresses": ["127.0.0.1"]})
    app = create_app(config, clock=clock)
    client = cast(Client, await aiohttp_client(app))
    return client, app


def banner(html: str) -> list[tuple[str, str, str]]:
    """(href, number, description) of each help line on a page."""
    found = re.search(r'<aside class="help-banner".*?</aside>', html, re.S)
    assert found, "no help banner"
    return re.findall(r'<a class="help-number" href="([^"]+)">([^<]+)</a> '
                      r'<span class="help-desc">([^<]*)</span>', found.group(0))


async def publish(app: web.Application, slug: str) -> None:
    async with app[CAFES].db.transaction() as conn:
        await conn.execute(cafes.update().where(cafes.c.slug == slug).values(
            status="ended", transcript_published=True))


async def test_default_numbers_on_the_cafe_page_room_and_transcript(
        site: tuple[Client, web.Application], clock: FixedClock) -> None:
    client, app = site
    slug = await make_cafe(app, clock, "Harcèlement en ligne")
    html = await (await client.get(f"/cafes/{slug}")).text()
    lines = banner(html)
    assert [(href, number) for href, number, _ in lines] == [("tel:3018", "3018"),
                                                             ("tel:119", "119")]
    assert "e-Enfance, gratuit et anonyme" in lines[0][2]
    assert "Besoin d’aide" in html
    # The banner sits before the room, so it is there once the parent has joined too.
    assert html.index('class="help-banner"') < html.index('id="room"')
    english = banner(await (await client.get(f"/cafes/{slug}?lang=en")).text())
    assert english[0][2] == "Online harassment: e-Enfance, free and anonymous"

    await publish(app, slug)
    transcript = await (await client.get(f"/cafes/{slug}/transcript")).text()
    assert [number for _, number, _ in banner(transcript)] == ["3018", "119"]


async def test_the_join_step_says_it_is_recorded_and_links_to_privacy(
        site: tuple[Client, web.Application], clock: FixedClock) -> None:
    client, app = site
    slug = await make_cafe(app, clock, "Écrans")
    html = await (await client.get(f"/cafes/{slug}")).text()
    assert "Ce café est enregistré et transcrit, et sa transcription peut être publiée." in html
    assert f'href="/cafes/{slug}/privacy" id="privacy-link"' in html
    assert "prénom ou un pseudonyme" not in html
    assert "Plutôt que votre prénom" in html
    privacy = await client.get(f"/cafes/{slug}/privacy")
    assert privacy.status == 200
    text = await privacy.text()
    assert "enregistré et transcrit" in text and banner(text)
    assert (await client.get("/cafes/nope/privacy")).status == 404


async def test_organiser_sets_the_cafe_numbers_and_privacy_notice(
        site: tuple[Client, web.Application], clock: FixedClock) -> None:
    client, app = site
    slug = await make_cafe(app, clock, "Réseaux sociaux")
    path = f"/admin/cafes/{slug}/help"
    assert (await client.get(path, allow_redirects=False)).status in (302, 303)
    await login(client, app)
    form = await (await client.get(path)).text()
    assert 'value="3018"' in form and 'name="use_default" value="1" checked' in form
    token = await csrf(client, path)
    saved = await client.post(path, allow_redirects=False, data={
        "csrf_token": token,
        "number_0": "0 800 200 000", "fr_0": "Écoute des parents <b>", "en_0": "Parents' line",
        "number_1": "119", "fr_1": "Enfant en danger", "en_1": "Child in danger",
        "privacy_fr": "Notre café <script>x()</script>.\n\nDeuxième paragraphe.",
        "privacy_en": "Our café.",
    })
    assert saved.status == 303, await saved.text()
    html = await (await client.get(f"/cafes/{slug}")).text()
    assert banner(html) == [("tel:0800200000", "0 800 200 000", "Écoute des parents &lt;b&gt;"),
                            ("tel:119", "119", "Enfant en danger")]
    assert banner(await (await client.get(f"/cafes/{slug}?lang=en")).text())[0][2] == (
        "Parents&#39; line")
    privacy = await (await client.get(f"/cafes/{slug}/privacy")).text()
    assert "<p>Notre café &lt;script&gt;x()&lt;/script&gt;.</p>" in privacy
    assert "<p>Deuxième paragraphe.</p>" in privacy
    assert "Our café." in await (await client.get(f"/cafes/{slug}/privacy?lang=en")).text()
    cafe = await app[CAFES].get(slug)
    assert (await app[SERVICES].cafe_help.help_for(cafe.id)).lines[1].number == "119"

    # Back to the defaults, the privacy text kept.
    token = await csrf(client, path)
    await client.post(path, data={"csrf_token": token, "use_default": "1",
                                  "privacy_fr": "Notre café.", "privacy_en": ""})
    assert await app[SERVICES].cafe_help.help_for(cafe.id) == DEFAULT_HELP
    assert "Notre café." in await (await client.get(f"/cafes/{slug}/privacy")).text()


@pytest.mark.parametrize(("fields", "message"), [
    ({"number_0": "appelez-nous", "fr_0": "a", "en_0": "b"}, "Un numéro d’aide"),
    ({"number_0": "3018", "fr_0": "", "en_0": "b"}, "obligatoire"),
    ({"number_0": "3018", "fr_0": "x" * 121, "en_0": "b"}, "trop long"),
    ({"number_0": "", "fr_0": "", "en_0": ""}, "au moins un numéro"),
    ({"number_0": "3018", "fr_0": "a", "en_0": "b", "privacy_en": "x" * 6001}, "trop long"),
])
async def test_bad_settings_are_refused_and_change_nothing(
        site: tuple[Client, web.Application], clock: FixedClock,
        fields: dict[str, str], message: str) -> None:
    client, app = site
    slug = await make_cafe(app, clock, "Jeux vidéo")
    await login(client, app)
    path = f"/admin/cafes/{slug}/help"
    token = await csrf(client, path)
    response = await client.post(path, data={"csrf_token": token, **fields})
    assert response.status == 400
    assert message in await response.text()
    async with app[CAFES].db.connect() as conn:
        assert (await conn.scalar(sa.select(sa.func.count()).select_from(
            cafe_help))) == 0
    assert [n for _, n, _ in banner(await (await client.get(f"/cafes/{slug}")).text())] == [
        "3018", "119"]
