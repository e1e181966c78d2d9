"""GET /api/search and the /search page, on SQLite and PostgreSQL, through the real app."""

from __future__ import annotations

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
)

from transcripts.search import open_database

Client = TestClient[Any, Any]


@pytest.fixture(params=BACKENDS)
async def client(
    request: pytest.FixtureRequest, tmp_path: Path,
    aiohttp_client: Callable[[Any], Awaitable[Client]],
) -> Client:
    url = await fresh_database(request.param, tmp_path, request)
    db = open_database(url)
    try:
        for slug, segs in CORPUS.items():
            await add_cafe(db, slug, segs=segs,
                           theme="screens" if slug.startswith("ecrans") else "cyber-harassment")
        await add_cafe(db, "brouillon", published=False,
                       segs=[Seg(0, 5, "Expert", "Un harcèlement secret.")])
        await add_cafe(db, "balises", segs=[
            Seg(0, 5, "<img src=x onerror=alert(1)>", "<script>alert('écran')</script> écran"),
        ])
    finally:
        await db.close()
    return await aiohttp_client(build_app(url, tmp_path))


async def test_api_search_hits(client: Client) -> None:
    resp = await client.get("/api/search", params={"q": "harcelement"})
    assert resp.status == 200
    data = await resp.json()
    assert data["total"] >= 2 and data["limit"] == 20 and data["offset"] == 0
    hit = data["hits"][0]
    assert set(hit) >= {"cafe", "start", "end", "speaker", "text", "snippet"}
    assert hit["cafe"]["slug"] == "harcelement-ecole" and hit["cafe"]["title"]
    assert "<mark>" in hit["snippet"]
    assert all(h["cafe"]["slug"] != "brouillon" for h in data["hits"])
    # The replay starts at the matching word, from the word timings, inside the segment.
    for h in data["hits"]:
        assert h["start"] <= h["moment"] < h["end"]
        assert h["url"].endswith(f"#t={h['moment']:g}")
    assert any(h["moment"] > h["start"] for h in data["hits"])


async def test_api_filters_and_paging(client: Client) -> None:
    resp = await client.get("/api/search", params={"q": "téléphone", "theme": "screens"})
    data = await resp.json()
    assert {h["cafe"]["slug"] for h in data["hits"]} == {"ecrans-famille"}
    resp = await client.get("/api/search", params={"q": "téléphone", "limit": "1"})
    data = await resp.json()
    assert data["total"] == 2 and len(data["hits"]) == 1 and data["next_offset"] == 1
    resp = await client.get("/api/search", params={"q": "téléphone", "from": "2030-01-01"})
    assert (await resp.json())["total"] == 0


@pytest.mark.parametrize("params", [
    {"q": "x" * 1000}, {"q": "a", "limit": "51"}, {"q": "a", "limit": "0"},
    {"q": "a", "limit": "many"}, {"q": "a", "offset": "-1"}, {"q": "a", "from": "yesterday"},
    {"q": "a", "theme": "t" * 200},
])
async def test_api_bad_input_is_400(client: Client, params: dict[str, str]) -> None:
    resp = await client.get("/api/search", params=params)
    assert resp.status == 400
    data = await resp.json()
    assert data["error"]["code"] == "invalid_query" and data["error"]["message"]


async def test_api_huge_query_is_400(client: Client) -> None:
    # Past 8 KiB aiohttp refuses the request line itself, also with a 400.
    resp = await client.get("/api/search", params={"q": "é" * 10_000})
    assert resp.status == 400


@pytest.mark.parametrize("q", [
    '"harcèlement', "NEAR(a b)", "a:* OR ^b", "((", "*", "le la de", "", "🙂", "\\", "'",
])
async def test_api_never_fails(client: Client, q: str) -> None:
    resp = await client.get("/api/search", params={"q": q})
    assert resp.status == 200
    assert (await resp.json())["total"] >= 0


async def test_api_escapes_stored_text(client: Client) -> None:
    data = await (await client.get("/api/search", params={"q": "ecran", "cafe": "balises"})).json()
    (hit,) = data["hits"]
    assert "<script>" not in hit["snippet"] and "&lt;script&gt;" in hit["snippet"]
    assert hit["speaker"] == "<img src=x onerror=alert(1)>"  # JSON carries the raw text


async def test_search_page_groups_by_cafe(client: Client) -> None:
    resp = await client.get("/search", params={"q": "téléphone"})
    assert resp.status == 200
    html = await resp.text()
    assert html.count('class="search-group"') == 2
    # Each hit links to the moment its matching word is spoken.
    api = await (await client.get("/api/search", params={"q": "téléphone"})).json()
    assert len(api["hits"]) == 2
    for hit in api["hits"]:
        assert f'href="{hit["url"]}"' in html
        assert hit["moment"] > hit["start"]
    assert "<mark>téléphone</mark>" in html


async def test_search_page_escapes(client: Client) -> None:
    html = await (await client.get("/search", params={"q": "écran <b>"})).text()
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;b&gt;" in html or "&#34;" in html or "écran" in html


async def test_search_page_errors_are_400_pages(client: Client) -> None:
    resp = await client.get("/search", params={"q": "x" * 500})
    assert resp.status == 400
    assert 'role="alert"' in await resp.text()
    assert (await client.get("/search")).status == 200
