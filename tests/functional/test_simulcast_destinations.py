"""A café's RTMP(S) destinations in its admin page: added with a URL and a stream key that
is sealed at once and never shown again in full (masked to its last 4 characters), never
logged; bounded in number and URL length; rtmp:// and rtmps:// only. SQLite and PostgreSQL."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
import sqlalchemy as sa
from aiohttp import web
from page_support import Client, csrf, login, make_cafe

from server.config import Config, load_config
from server.keys import CAFES, DATABASE
from server.simulcast import DESTINATIONS, StreamKeyBox
from sessions.clock import FixedClock
from sessions.roles import Role
from sessions.storage.tables import rtmp_destinations

KEY = "abcd-efgh-ijkl-9Z7Q"


@pytest.fixture
def config(tmp_path: Path, database_url: str) -> Config:
    """The app of these tests on SQLite, then on PostgreSQL."""
    return load_config(data_dir=tmp_path / "var", database_url=database_url,
                       secret_key="test-secret-key-0123456789-abcdefghijklmnop")


async def _cafe(app: web.Application, clock: FixedClock) -> str:
    """A café as the form makes it: with its invitation links (the page's sections follow)."""
    slug = await make_cafe(app, clock, "Les écrans")
    cafe = await app[CAFES].get(slug)
    await app[CAFES].invite(cafe.id, Role.EXPERT)
    return slug


async def _add(client: Client, slug: str, url: str, key: str = KEY, label: str = "YouTube"
               ) -> tuple[int, str]:
    token = await csrf(client, f"/admin/cafes/{slug}")
    response = await client.post(f"/admin/cafes/{slug}/destinations", data={
        "csrf_token": token, "label": label, "url": url, "stream_key": key},
        allow_redirects=False)
    return response.status, await response.text()


async def test_destination_is_stored_sealed_and_shown_masked(
        client: Client, app: web.Application, clock: FixedClock,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    await login(client, app)
    slug = await _cafe(app, clock)
    status, _ = await _add(client, slug, "rtmps://a.rtmp.youtube.com/live2")
    assert status == 303
    page = await (await client.get(f"/admin/cafes/{slug}")).text()
    assert 'id="simulcast"' in page and "Diffusion sur d’autres plateformes" in page
    assert "rtmps://a.rtmp.youtube.com/live2" in page and "••••9Z7Q" in page
    assert KEY not in page and "abcd" not in page
    assert "Diffusée pendant le direct du café." in page  # not live yet

    cafe = await app[CAFES].get(slug)
    async with app[DATABASE].connect() as conn:
        row = (await conn.execute(sa.select(rtmp_destinations))).one()
    assert row.cafe_id == cafe.id and KEY not in row.key_sealed and row.key_last4 == "9Z7Q"
    targets = await app[DESTINATIONS].targets(cafe.id)
    assert [t.url for t in targets] == [f"rtmps://a.rtmp.youtube.com/live2/{KEY}"]
    assert KEY not in caplog.text

    # removed with its button
    destination_id = re.search(r'data-destination="(\d+)"', page)
    assert destination_id is not None
    token = await csrf(client, f"/admin/cafes/{slug}")
    removed = await client.post(
        f"/admin/cafes/{slug}/destinations/{destination_id.group(1)}/delete",
        data={"csrf_token": token}, allow_redirects=False)
    assert removed.status == 303
    assert await app[DESTINATIONS].of_cafe(cafe.id) == []


@pytest.mark.parametrize(("url", "key", "message"), [
    ("http://example.org/live", KEY, "rtmp:// ou rtmps://"),
    ("rtmp://", KEY, "rtmp:// ou rtmps://"),
    ("rtmp://user:pass@example.org/live", KEY, "rtmp:// ou rtmps://"),
    ("rtmp://example.org/live\u0000", KEY, "rtmp:// ou rtmps://"),
    ("rtmp://example.org/" + "a" * 300, KEY, "trop long"),
    ("rtmp://example.org/live", "", "obligatoire"),
    ("rtmp://example.org/live", "with space", "ni espace"),
    ("rtmp://example.org/live", "k" * 201, "trop long"),
])
async def test_bad_destinations_are_refused_and_nothing_is_stored(
        client: Client, app: web.Application, clock: FixedClock,
        url: str, key: str, message: str) -> None:
    await login(client, app)
    slug = await _cafe(app, clock)
    status, page = await _add(client, slug, url, key)
    assert status == 400 and message in page
    if key:
        assert key not in page
    cafe = await app[CAFES].get(slug)
    assert await app[DESTINATIONS].of_cafe(cafe.id) == []


async def test_at_most_five_destinations(client: Client, app: web.Application,
                                         clock: FixedClock) -> None:
    await login(client, app)
    slug = await _cafe(app, clock)
    for n in range(5):
        assert (await _add(client, slug, f"rtmp://127.0.0.1/live{n}"))[0] == 303
    page = await (await client.get(f"/admin/cafes/{slug}")).text()
    assert "Au plus 5 destinations par café." in page and 'name="stream_key"' not in page
    status, page = await _add(client, slug, "rtmp://127.0.0.1/live6")
    assert status == 400 and "Au plus 5 destinations par café." in page
    cafe = await app[CAFES].get(slug)
    assert len(await app[DESTINATIONS].of_cafe(cafe.id)) == 5


async def test_organiser_login_is_needed(client: Client, app: web.Application,
                                         clock: FixedClock) -> None:
    slug = await _cafe(app, clock)
    response = await client.post(f"/admin/cafes/{slug}/destinations",
                                 data={"url": "rtmp://x/live", "stream_key": KEY},
                                 allow_redirects=False)
    assert response.status in (302, 303, 401, 403)
    cafe = await app[CAFES].get(slug)
    assert await app[DESTINATIONS].of_cafe(cafe.id) == []


def test_sealed_keys_need_the_same_secret() -> None:
    box = StreamKeyBox("s" * 40)
    sealed = box.seal(KEY)
    assert KEY not in sealed and box.open(sealed) == KEY
    with pytest.raises(ValueError, match="another secret"):
        StreamKeyBox("t" * 40).open(sealed)
