"""The organiser's watched-word pages: the association's default list and a café's list,
edited in the text area or imported from a text file, bounded, behind the login and CSRF."""

from __future__ import annotations

from pathlib import Path

import aiohttp
from aiohttp import web
from page_support import Client, csrf, login, make_cafe
from review_support import ended_cafe

from server.keys import CAFES, SERVICES
from sessions.clock import FixedClock
from sessions.roles import Role
from sessions.watchwords import MAX_TERMS, WatchAction


async def test_cafe_list_import_and_default_list(client: Client, app: web.Application,
                                                 clock: FixedClock) -> None:
    slug = await make_cafe(app, clock, "Harcèlement en ligne")
    cafe = await app[CAFES].get(slug)
    await app[CAFES].invite(cafe.id, Role.MODERATOR)  # (the sections show with the links)
    anonymous = await client.get(f"/admin/cafes/{slug}/watched-words", allow_redirects=False)
    assert anonymous.status == 303 and "/login" in anonymous.headers["Location"]
    await login(client, app)

    admin = await (await client.get(f"/admin/cafes/{slug}")).text()
    assert 'id="safeguarding"' in admin and "Modifier les mots surveillés" in admin
    path = f"/admin/cafes/{slug}/watched-words"
    token = await csrf(client, path)
    form = aiohttp.FormData()
    form.add_field("csrf_token", token)
    form.add_field("body", "crétin | block")
    form.add_field("file", "écrans | flag\nje te retrouverai\n".encode(),
                   filename="mots.txt", content_type="text/plain")
    saved = await client.post(path, data=form, allow_redirects=False)
    assert saved.status == 303, await saved.text()
    page = await (await client.get(saved.headers["Location"])).text()
    assert "Enregistré" in page and "3 termes" in page
    watch = app[SERVICES].watch
    assert (await watch.verdict(cafe.id, "Les ÉCRANS")).action is WatchAction.FLAG
    assert (await watch.verdict(cafe.id, "je te retrouverai")).action is WatchAction.HOLD
    assert (await watch.verdict(cafe.id, "crétin")).action is WatchAction.BLOCK

    too_many = "\n".join(f"mot{i}" for i in range(MAX_TERMS + 1))
    refused = await client.post(path, data={"csrf_token": token, "body": too_many})
    assert refused.status == 400
    assert "au plus 300 termes" in await refused.text()
    bad = await client.post(path, data={"csrf_token": token, "body": "mot | peut-être"})
    assert bad.status == 400 and "Ligne 1" in await bad.text()
    forged = await client.post(path, data={"csrf_token": "x", "body": ""})
    assert forged.status == 403
    assert (await watch.verdict(cafe.id, "crétin")).action is WatchAction.BLOCK  # unchanged

    # The default list is the association's, linked from the café's list.
    association = await app[CAFES].associations.get_by_id(cafe.association_id)
    default_path = f"/admin/associations/{association.slug}/watched-words"
    assert f'href="{default_path}"' in await (await client.get(path)).text()
    moved = await client.get("/admin/watched-words", allow_redirects=False)
    assert (moved.status, moved.headers["Location"]) == (303, default_path)
    default = await (await client.get(default_path)).text()
    assert "@telephone | hold" in default  # the shipped French list until edited
    assert "chaque café de l’association l’applique" in default
    token = await csrf(client, default_path)
    saved = await client.post(default_path, allow_redirects=False,
                              data={"csrf_token": token, "body": "idiot | flag"})
    assert saved.status == 303
    assert "idiot | flag" in await (await client.get(default_path)).text()
    assert (await watch.verdict(cafe.id, "un idiot")).action is WatchAction.FLAG
    assert (await watch.verdict(cafe.id, "salope")).action is None  # the shipped list replaced
    refused = await client.post(default_path, data={"csrf_token": token, "body": "x | non"})
    assert refused.status == 400 and "Ligne 1" in await refused.text()
    assert "idiot | flag" in await (await client.get(default_path)).text()


async def test_review_page_marks_watched_words(client: Client, app: web.Application,
                                               clock: FixedClock, tmp_path: Path) -> None:
    cafe = await ended_cafe(app, clock, tmp_path / "parts")
    await app[SERVICES].watch.save_cafe_list(cafe.cafe_id, "Lucas Martin\ntéléphone | flag")
    await login(client, app)
    html = await (await client.get(f"/cafes/{cafe.slug}/review")).text()
    assert "2 passages contiennent un mot surveillé" in html
    assert "<mark>Lucas Martin</mark>" in html  # a name to redact, spotted
    assert "gardez le <mark>telephone</mark> hors de la chambre" in html  # without accent
    assert html.count('class="watched"') == 2
