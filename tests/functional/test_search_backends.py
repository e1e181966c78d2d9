"""The same search suite on SQLite FTS5 and on PostgreSQL full-text search."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from search_support import (
    BACKENDS,
    CORPUS,
    Seg,
    add_cafe,
    delete_cafe,
    open_database,
    set_published,
)
from sqlalchemy import event
from sqlalchemy.pool import Pool

from sessions.storage.database import Database
from sessions.storage.tables import associations, cafes, segments
from transcripts import search_sqlite
from transcripts.search import SearchFilters, SearchQueryError, search
from transcripts.search import open_database as open_app_database
from transcripts.search_sqlite import register_functions


@pytest.fixture(params=BACKENDS)
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    async for database in open_database(request.param, tmp_path, request):
        for slug, segs in CORPUS.items():
            theme = "screens" if slug.startswith("ecrans") else "cyber-harassment"
            starts = datetime(2026, 2, 1, 18, tzinfo=UTC) if theme == "screens" else None
            await add_cafe(database, slug, theme=theme, segs=segs, starts_at=starts)
        await add_cafe(database, "brouillon", published=False, segs=[
            Seg(0, 5, "Expert", "Un harcèlement secret dans un café non publié."),
        ])
        yield database


def slugs(result: object) -> set[str]:
    return {hit.cafe_slug for hit in result.hits}  # type: ignore[attr-defined]


async def test_accent_and_case_insensitive(db: Database) -> None:
    for query in ("harcelement", "HARCÈLEMENT", "Harcèlement"):
        result = await search(db, query)
        assert "harcelement-ecole" in slugs(result), query
        assert result.total >= 2
        assert all("<mark>" in str(h.snippet) for h in result.hits)


async def test_unpublished_is_invisible(db: Database) -> None:
    result = await search(db, "secret")
    assert result.total == 0 and result.hits == ()
    await set_published(db, "brouillon", True)
    assert slugs(await search(db, "secret")) == {"brouillon"}
    await set_published(db, "brouillon", False)
    assert (await search(db, "secret")).total == 0


async def test_phrase_and_prefix(db: Database) -> None:
    phrase = await search(db, '"jeux vidéo en ligne"')
    assert [h.start for h in phrase.hits] == [11.0]
    assert (await search(db, '"ligne vidéo jeux"')).total == 0
    prefix = await search(db, "harcel*")
    assert {h.start for h in prefix.hits if h.cafe_slug == "harcelement-ecole"} >= {0.0, 4.5}
    assert any("<mark>harcèlement</mark>" in str(h.snippet) for h in prefix.hits)


async def test_every_term_must_match(db: Database) -> None:
    result = await search(db, "téléphone table")
    assert [(h.cafe_slug, h.start) for h in result.hits] == [("ecrans-famille", 5.0)]


async def test_hit_fields(db: Database) -> None:
    result = await search(db, "captures")
    (hit,) = result.hits
    assert (hit.cafe_slug, hit.cafe_title, hit.start, hit.end, hit.speaker) == (
        "harcelement-ecole", "Harcelement ecole", 14.0, 20.0, "Expert")
    assert hit.text.startswith("Il faut écouter")
    data = result.to_json()
    assert data["total"] == 1 and data["hits"][0]["cafe"]["slug"] == "harcelement-ecole"
    # The link plays from the matching word ("captures"), inside the segment.
    assert 14.0 < hit.at < 20.0
    assert data["hits"][0]["url"] == f"/cafes/harcelement-ecole/transcript#t={hit.at:g}"


async def test_filters(db: Database) -> None:
    assert slugs(await search(db, "téléphone")) == {"harcelement-ecole", "ecrans-famille"}
    only = SearchFilters(theme="screens")
    assert slugs(await search(db, "téléphone", filters=only)) == {"ecrans-famille"}
    by_cafe = SearchFilters(cafe="harcelement-ecole")
    assert slugs(await search(db, "téléphone", filters=by_cafe)) == {"harcelement-ecole"}
    february = SearchFilters(date_from=date(2026, 2, 1), date_to=date(2026, 2, 1))
    assert slugs(await search(db, "téléphone", filters=february)) == {"ecrans-famille"}
    march = SearchFilters(date_from=date(2026, 3, 1))
    assert slugs(await search(db, "téléphone", filters=march)) == {"harcelement-ecole"}


async def test_ranking_prefers_more_matches(db: Database) -> None:
    await add_cafe(db, "classement", segs=[
        Seg(0, 5, "A", "Un mot sur la prévention en général et puis autre chose encore."),
        Seg(5, 10, "A", "Prévention, prévention : la prévention avant tout."),
    ])
    result = await search(db, "prevention")
    assert [h.start for h in result.hits] == [5.0, 0.0]
    assert result.hits[0].score > result.hits[1].score


async def test_paging(db: Database) -> None:
    await add_cafe(db, "pagination", segs=[
        Seg(float(i), i + 1.0, "A", f"Le numéro {i} parle de sommeil.") for i in range(30)
    ])
    first = await search(db, "sommeil", limit=10, offset=0)
    second = await search(db, "sommeil", limit=10, offset=10)
    last = await search(db, "sommeil", limit=10, offset=25)
    assert first.total == 30 and first.has_more and len(first.hits) == 10
    assert {h.segment_id for h in first.hits}.isdisjoint(h.segment_id for h in second.hits)
    assert len(last.hits) == 5 and not last.has_more
    assert first.to_json()["next_offset"] == 10


@pytest.mark.parametrize("query", [
    '"harcèlement', 'harcèlement"', "harcel* OR", "NEAR(harcèlement école)", "a:b ^c",
    "(((", "*", "\"\"\"", "AND", "-", "'; DROP TABLE segments; --", "\x00\x01", "é" * 199,
    "col:harcèlement", "harcèlement NOT école", "{text}: hi", "ab*", "🙂 harcèlement",
])
async def test_hostile_queries_never_fail(db: Database, query: str) -> None:
    result = await search(db, query)
    assert result.total >= 0
    for hit in result.hits:
        assert "<" not in str(hit.snippet).replace("<mark>", "").replace("</mark>", "")


async def test_stop_words_only_is_empty(db: Database) -> None:
    result = await search(db, "le la les de et à")
    assert result.total == 0 and result.hits == ()


async def test_too_long_is_a_clear_error(db: Database) -> None:
    with pytest.raises(SearchQueryError) as caught:
        await search(db, "x" * 10_000)
    assert caught.value.http_status == 400


async def test_snippet_escapes_stored_text(db: Database) -> None:
    await add_cafe(db, "balises", segs=[
        Seg(0, 5, "<b>Expert</b>", "<script>alert('écran')</script> & écran <img src=x>"),
    ])
    (hit,) = (await search(db, "ecran", filters=SearchFilters(cafe="balises"))).hits
    snippet = str(hit.snippet)
    assert "<script>" not in snippet and "<img" not in snippet
    assert "&lt;script&gt;" in snippet and "&amp;" in snippet
    assert snippet.count("<mark>") == 2


async def test_index_follows_updates_and_deletes(db: Database) -> None:
    await delete_cafe(db, "ecrans-famille")
    assert (await search(db, "dormir")).total == 0
    assert (await search(db, "harcelement")).total >= 1


# --- French inflections: the same answers on SQLite (Python Snowball stems) and PostgreSQL.

INFLECTIONS = [
    Seg(0, 5, "Parent", "Mon fils passe ses soirées sur les réseaux sociaux."),
    Seg(5, 10, "Parent", "Il a été harcelé par des camarades de sa classe."),
    Seg(10, 15, "Experte", "Comment surveiller les écrans dans la chambre ?"),
    Seg(15, 20, "Experte", "La surveillance parentale a ses limites."),
]


async def starts(db: Database, query: str) -> set[float]:
    result = await search(db, query, filters=SearchFilters(cafe="flexions"))
    return {h.start for h in result.hits}


@pytest.fixture
async def inflections(db: Database) -> Database:
    await add_cafe(db, "flexions", segs=INFLECTIONS)
    return db


async def test_singular_finds_plural_and_back(inflections: Database) -> None:
    assert await starts(inflections, "réseau social") == {0.0}
    assert await starts(inflections, "reseaux sociaux") == {0.0}
    assert await starts(inflections, "écran") == {10.0}
    assert slugs(await search(inflections, "ecran")) >= {"ecrans-famille", "flexions"}


async def test_masculine_finds_feminine(inflections: Database) -> None:
    assert await starts(inflections, "parental") == {15.0}
    assert await starts(inflections, "sociale") == {0.0}


async def test_verb_forms_and_nouns(inflections: Database) -> None:
    for query in ("harceler", "harcelé", "HARCELE", "harcèlement", "harcelements"):
        assert await starts(inflections, query) == {5.0}, query
    # "harcèlement" also finds "harcelé" in the other café, and marks the inflected word.
    result = await search(inflections, "harcèlement", filters=SearchFilters(
        cafe="harcelement-ecole"))
    assert {h.start for h in result.hits} == {0.0, 4.5, 9.0}
    assert any("<mark>harcelé</mark>" in str(h.snippet) for h in result.hits)
    assert await starts(inflections, "surveillance") == {10.0, 15.0}


async def test_phrases_match_words_in_order_side_by_side(inflections: Database) -> None:
    assert await starts(inflections, '"réseaux sociaux"') == {0.0}
    assert await starts(inflections, '"réseau social"') == {0.0}  # inflected, like PostgreSQL
    assert await starts(inflections, '"sociaux réseaux"') == set()
    assert await starts(inflections, '"surveillance parentale"') == {15.0}
    assert await starts(inflections, '"parentale surveillance"') == set()
    assert await starts(inflections, '"surveiller écrans"') == set()  # "les" between them
    assert await starts(inflections, '"surveiller les écrans"') == {10.0}


async def test_prefix_on_stems(inflections: Database) -> None:
    assert await starts(inflections, "surveil*") == {10.0, 15.0}
    assert await starts(inflections, "harcel*") == {5.0}


async def test_index_follows_text_updates(inflections: Database) -> None:
    async with inflections.transaction() as conn:
        await conn.execute(
            segments.update().where(segments.c.text.like("Mon fils%"))
            .values(text="Ma fille joue aux jeux vidéo.")
        )
    assert await starts(inflections, "réseaux") == set()
    assert await starts(inflections, "jeux video") == {0.0}


async def test_sqlite_delete_needs_no_python_function(tmp_path: Path,
                                                      request: pytest.FixtureRequest) -> None:
    """A plain sqlite3 connection (an operator's shell, a script) can delete cafés: the
    delete trigger needs no Python function; inserting segments there needs
    ``causerie_fr_stems``, which `register_functions` adds."""
    async for database in open_database("sqlite", tmp_path, request):
        await add_cafe(database, "flexions", segs=INFLECTIONS)
        path = database.url.split("///", 1)[1]
    plain = sqlite3.connect(path)
    try:
        plain.execute("PRAGMA foreign_keys=ON")
        with pytest.raises(sqlite3.OperationalError, match="causerie_fr_stems"):
            plain.execute("UPDATE segments SET text = 'autre' WHERE start_seconds = 0")
        plain.execute("DELETE FROM cafes WHERE slug = 'flexions'")
        plain.commit()
        assert plain.execute("SELECT count(*) FROM segments_fts").fetchone() == (0,)
        register_functions(plain)
        plain.execute("INSERT INTO segments_fts(segments_fts) VALUES ('integrity-check')")
    finally:
        plain.close()


async def test_sqlite_stems_function_comes_from_the_engines_connect_hook(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Importing the SQLite backend registers nothing globally: an engine built without the
    hook cannot write segments, the one `transcripts.search.open_database` builds can."""
    assert not event.contains(Pool, "connect", search_sqlite.on_connect)
    async for database in open_database("sqlite", tmp_path, request):
        url = database.url
    bare = Database(url)
    try:
        with pytest.raises(sa.exc.OperationalError, match="causerie_fr_stems"):
            await add_cafe(bare, "sans-fonction", segs=INFLECTIONS)
    finally:
        await bare.close()
    hooked = open_app_database(url)
    try:
        await add_cafe(hooked, "avec-fonction", segs=INFLECTIONS)
        assert "avec-fonction" in slugs(await search(hooked, "harceler"))
    finally:
        await hooked.close()
    assert not event.contains(Pool, "connect", search_sqlite.on_connect)


# --- filters in the index (PostgreSQL's search_scope, migration 0014): they follow the café.


async def test_filters_follow_the_cafe_at_once(db: Database) -> None:
    """A café's theme or association changed, a segment moved to another café: filtered
    searches follow in the same transaction (PostgreSQL keeps the filters in the index by
    triggers; both backends give the same answers)."""
    odd_theme = "l'école « d'abord », 100 %"
    cafe_id = await add_cafe(db, "deplacements", theme=odd_theme, segs=[
        Seg(0, 5, "Expert", "La gendarmerie reçoit les plaintes pour harcèlement."),
    ])
    gendarmerie = "gendarmerie"
    assert slugs(await search(db, gendarmerie, filters=SearchFilters(theme=odd_theme))) == {
        "deplacements"}
    async with db.transaction() as conn:
        await conn.execute(cafes.update().where(cafes.c.id == cafe_id).values(theme="screens"))
    assert (await search(db, gendarmerie, filters=SearchFilters(theme=odd_theme))).total == 0
    assert slugs(await search(db, gendarmerie, filters=SearchFilters(theme="screens"))) == {
        "deplacements"}
    async with db.transaction() as conn:
        other = int(await conn.scalar(associations.insert().values(
            slug="autre-asso", name="Autre", created_at=datetime(2026, 1, 1, tzinfo=UTC))
            .returning(associations.c.id)))
        first = await conn.scalar(sa.select(associations.c.slug).where(
            associations.c.id != other))
        await conn.execute(cafes.update().where(cafes.c.id == cafe_id)
                           .values(association_id=other))
    assert slugs(await search(db, gendarmerie, filters=SearchFilters(
        association="autre-asso"))) == {"deplacements"}
    assert (await search(db, gendarmerie, filters=SearchFilters(association=first))).total == 0
    assert (await search(db, gendarmerie, filters=SearchFilters(association="nulle"))).total == 0
    assert (await search(db, gendarmerie, filters=SearchFilters(cafe="nulle-part"))).total == 0
    # A segment moved to another café is found under that café's filters, not the first's.
    async with db.transaction() as conn:
        target = (await conn.execute(sa.select(cafes.c.id).where(
            cafes.c.slug == "ecrans-famille"))).scalar_one()
        await conn.execute(segments.update().where(segments.c.cafe_id == cafe_id)
                           .values(cafe_id=target))
    assert slugs(await search(db, gendarmerie, filters=SearchFilters(
        cafe="ecrans-famille"))) == {"ecrans-famille"}
    assert (await search(db, gendarmerie, filters=SearchFilters(cafe="deplacements"))).total == 0
    assert slugs(await search(db, gendarmerie, filters=SearchFilters(
        theme="screens", cafe="ecrans-famille"))) == {"ecrans-famille"}


async def test_filtered_search_pages_through_many_cafes(db: Database) -> None:
    """More matches than one bucket holds, over cafés of two themes: a theme filter's total
    and pages are those of the filter, on both backends."""
    for index in range(6):
        await add_cafe(db, f"masse-{index}", theme="screens" if index % 2 else "fake-news",
                       segs=[Seg(float(i), i + 1.0, "A", f"Le sommeil numéro {i}.")
                             for i in range(100)])
    only = SearchFilters(theme="fake-news")
    first = await search(db, "sommeil", limit=50, filters=only)
    assert first.total == 300 and {h.cafe_slug for h in first.hits} <= {
        "masse-0", "masse-2", "masse-4"}
    rest = await search(db, "sommeil", limit=50, offset=250, filters=only)
    assert len(rest.hits) == 50 and not rest.has_more


async def test_theme_filter_keeps_the_order_of_the_unfiltered_search(db: Database) -> None:
    """One term under a theme filter reads the theme's own postings (SQLite's ``themed``
    column): its hits are the unfiltered search's hits of that theme, in the same order."""
    lines = ["Le sommeil.", "Le sommeil, le sommeil et encore le sommeil du soir.",
             "Un long propos sur le sommeil des adolescents et des jeunes enfants le soir.",
             "Sommeil et écrans : le sommeil recule.", "Les jeux vidéo volent le sommeil."]
    for index in range(4):
        await add_cafe(db, f"nuits-{index}", theme="screens" if index % 2 else "fake-news",
                       segs=[Seg(float(i), i + 1.0, "A", line)
                             for i, line in enumerate(lines[index:] + lines[:index])])
    for query in ("sommeil", "somm*", '"le sommeil"', "jeux"):
        every = await search(db, query, limit=50)
        for theme in ("screens", "fake-news"):
            only = await search(db, query, limit=50, filters=SearchFilters(theme=theme))
            expected = [h.segment_id for h in every.hits if h.cafe_theme == theme]
            assert [h.segment_id for h in only.hits] == expected, (query, theme)
            assert only.total == len(expected)
