"""The transcript page: segments, player, captions track, published only."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from search_support import (
    BACKENDS,
    CORPUS,
    Seg,
    add_cafe,
    build_app,
    fresh_database,
    set_published,
)

from transcripts.search import open_database

Client = TestClient[Any, Any]
AUDIO = b"OggS" + bytes(range(256)) * 40


@pytest.fixture(params=BACKENDS)
async def setup(
    request: pytest.FixtureRequest, tmp_path: Path,
    aiohttp_client: Callable[[Any], Awaitable[Client]],
) -> tuple[Client, str]:
    url = await fresh_database(request.param, tmp_path, request)
    audio = tmp_path / "recordings" / "expert-000000000.ogg"
    audio.parent.mkdir()
    audio.write_bytes(AUDIO)
    db = open_database(url)
    await add_cafe(db, "harcelement-ecole", segs=CORPUS["harcelement-ecole"],
                   recording_path=str(audio))
    await add_cafe(db, "sans-audio", segs=[
        Seg(0, 3, "<script>x()</script>", "Texte <img src=x onerror=alert(1)> & fin"),
    ])
    await add_cafe(db, "brouillon", published=False, segs=[Seg(0, 1, "A", "secret")],
                   recording_path=str(audio))
    await db.close()
    client = await aiohttp_client(build_app(url, tmp_path))
    return client, url


async def test_page_lists_segments_with_player(setup: tuple[Client, str]) -> None:
    client, _ = setup
    resp = await client.get("/cafes/harcelement-ecole/transcript")
    assert resp.status == 200
    html = await resp.text()
    assert html.count('class="segment"') == 4
    assert 'data-start="4.5"' in html and 'href="#t=4.5"' in html
    assert re.search(r'<audio id="player"[^>]*controls', html)
    assert '<source src="/cafes/harcelement-ecole/recording">' in html
    assert ('<track kind="captions" src="/cafes/harcelement-ecole/transcript.vtt"'
            in html)
    assert "/static/transcript.js" in html and "<script>" not in html
    assert 'name="viewport"' in html


async def test_text_is_escaped(setup: tuple[Client, str]) -> None:
    client, _ = setup
    html = await (await client.get("/cafes/sans-audio/transcript")).text()
    assert "<img src=x" not in html and "<script>x()" not in html
    assert "&lt;img src=x onerror=alert(1)&gt; &amp; fin" in html
    assert "<audio" not in html  # no recording file: no player


async def test_unpublished_is_404(setup: tuple[Client, str]) -> None:
    client, url = setup
    for path in ("/cafes/brouillon/transcript", "/cafes/brouillon/recording",
                 "/cafes/nope/transcript", "/cafes/sans-audio/recording"):
        assert (await client.get(path)).status == 404, path
    db = open_database(url)
    await set_published(db, "harcelement-ecole", False)
    await db.close()
    assert (await client.get("/cafes/harcelement-ecole/transcript")).status == 404


async def test_recording_supports_ranges(setup: tuple[Client, str]) -> None:
    client, _ = setup
    resp = await client.get("/cafes/harcelement-ecole/recording")
    assert resp.status == 200 and resp.content_type == "audio/ogg"
    assert await resp.read() == AUDIO
    resp = await client.get("/cafes/harcelement-ecole/recording",
                            headers={"Range": "bytes=4-13"})
    assert resp.status == 206 and await resp.read() == AUDIO[4:14]
