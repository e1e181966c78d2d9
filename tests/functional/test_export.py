"""Exports (VTT, SRT, TXT, JSON): the functions the CLI calls and the download routes."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import srt
import webvtt
from aiohttp.test_utils import TestClient
from search_support import (
    BACKENDS,
    CORPUS,
    Seg,
    add_cafe,
    build_app,
    fresh_database,
)

from sessions.errors import InvalidInput, NotFound
from sessions.storage.database import Database
from transcripts.export import export_transcript, load_transcript, local_start
from transcripts.search import open_database

PARIS = ZoneInfo("Europe/Paris")

Client = TestClient[Any, Any]
TRICKY = Seg(20.0, 20.0, "Dr <Martin> & co", "Attention --> ici <b>gras</b> &amp;\n\nfin")


@pytest.fixture(params=BACKENDS)
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    url = await fresh_database(request.param, tmp_path, request)
    db = open_database(url)
    try:
        await add_cafe(db, "harcelement-ecole", segs=[*CORPUS["harcelement-ecole"], TRICKY])
        await add_cafe(db, "brouillon", published=False, segs=[Seg(0, 1, "A", "secret")])
    finally:
        await db.close()
    yield url


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    database = open_database(db_url)
    yield database
    await database.close()


async def test_vtt_parses_back(db: Database, tmp_path: Path) -> None:
    text = await export_transcript(db, "harcelement-ecole", "vtt", PARIS)
    assert text.startswith("WEBVTT")
    path = tmp_path / "t.vtt"
    path.write_text(text, encoding="utf-8")
    captions = webvtt.read(str(path)).captions
    assert len(captions) == 5
    assert captions[0].start == "00:00:00.000" and captions[0].end == "00:00:04.500"
    assert captions[1].raw_text.startswith("<v Expert>Le cyber-harcèlement")
    last = captions[4]
    assert last.start == "00:00:20.000" and last.end == "00:00:20.100"
    assert "-->" not in last.raw_text and "<b>" not in last.raw_text
    assert "&lt;b&gt;gras" in last.raw_text and "Dr &lt;Martin&gt; &amp; co" in last.raw_text


async def test_srt_parses_back(db: Database) -> None:
    text = await export_transcript(db, "harcelement-ecole", "srt", PARIS)
    subs = list(srt.parse(text))
    assert [s.index for s in subs] == [1, 2, 3, 4, 5]
    assert subs[2].start.total_seconds() == 9.0 and subs[2].end.total_seconds() == 14.0
    assert subs[2].content == "Parent: Comment savoir si mon fils est harcelé sur les réseaux ?"
    assert "\n" not in subs[4].content


async def test_txt(db: Database) -> None:
    text = await export_transcript(db, "harcelement-ecole", "txt", PARIS)
    lines = text.splitlines()
    assert lines[0] == "Harcelement ecole"
    # 18:00 UTC on 10 March is 19:00 in Paris (winter time); the header says which zone.
    assert lines[1] == "2026-03-10 19:00 (Europe/Paris, UTC+01:00)"
    assert "[00:09] Parent: Comment savoir si mon fils est harcelé sur les réseaux ?" in lines
    assert lines[-1].startswith("[00:20] Dr <Martin> & co: Attention")


async def test_local_start_follows_summer_time_and_the_zone(db: Database) -> None:
    transcript = await load_transcript(db, "harcelement-ecole")
    summer = dataclasses.replace(transcript, starts_at=datetime(2026, 7, 1, 18, 0, tzinfo=UTC))
    assert local_start(summer, PARIS) == "2026-07-01 20:00 (Europe/Paris, UTC+02:00)"
    assert local_start(summer, ZoneInfo("America/Montreal")) == (
        "2026-07-01 14:00 (America/Montreal, UTC-04:00)")
    assert local_start(summer, UTC) == "2026-07-01 18:00 (UTC, UTC+00:00)"


async def test_json_has_words(db: Database) -> None:
    data = json.loads(await export_transcript(db, "harcelement-ecole", "json", PARIS))
    assert data["cafe"]["slug"] == "harcelement-ecole"
    first = data["segments"][0]
    assert (first["start"], first["end"], first["speaker"]) == (0.0, 4.5, "Expert")
    assert first["words"][0]["word"] == "Bonjour"
    assert set(first["words"][0]) == {"start", "end", "word", "probability"}


async def test_unpublished_and_unknown_are_not_found(db: Database) -> None:
    for slug in ("brouillon", "nope", "x" * 500):
        with pytest.raises(NotFound):
            await export_transcript(db, slug, "vtt", PARIS)
    with pytest.raises(InvalidInput):
        await export_transcript(db, "harcelement-ecole", "docx", PARIS)


async def test_download_routes(
    db_url: str, tmp_path: Path, aiohttp_client: Callable[[Any], Awaitable[Client]],
) -> None:
    client = await aiohttp_client(build_app(db_url, tmp_path))
    expected = {"vtt": "text/vtt", "srt": "application/x-subrip", "txt": "text/plain",
                "json": "application/json"}
    for fmt, content_type in expected.items():
        resp = await client.get(f"/cafes/harcelement-ecole/transcript.{fmt}")
        assert resp.status == 200, fmt
        assert resp.content_type == content_type and resp.charset == "utf-8"
        assert "harcèlement" in await resp.text()
        if fmt == "txt":  # the app's zone (config timezone, default Europe/Paris)
            assert "2026-03-10 19:00 (Europe/Paris, UTC+01:00)" in await resp.text()
        resp = await client.get(f"/cafes/brouillon/transcript.{fmt}")
        assert resp.status == 404, fmt
    resp = await client.get("/cafes/harcelement-ecole/transcript.srt?download=1")
    assert resp.headers["Content-Disposition"] == (
        'attachment; filename="harcelement-ecole.srt"')
    assert (await client.get("/cafes/harcelement-ecole/transcript.docx")).status == 404
    resp = await client.get("/cafes/brouillon/transcript.json")
    assert (await resp.json())["error"]["code"] == "transcript_not_found"
