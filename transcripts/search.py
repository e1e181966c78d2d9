"""Full-text search across every published transcript.

``search(db, "harcelement scolaire", limit=20, offset=0)`` parses the text
(`transcripts.search_query`), runs it on the backend of the database (SQLite FTS5 in
`transcripts.search_sqlite`, PostgreSQL full-text in `transcripts.search_postgres`) and returns
ranked hits with safe, highlighted snippets. Only cafés with ``transcript_published`` are
searched. ``install_search_index`` / ``uninstall_search_index`` create and drop the index
(migrations 0002 and 0003, and tests call them).

Both backends match French inflections the same way (Snowball French stems of unaccented
words): ``harcelement`` finds ``harcèlement``, ``harcelé`` and ``harceler``; ``réseau``
finds ``réseaux``. On SQLite the stems are computed in Python by a function registered on
each connection of the engine through its connect hook: open the database with
`open_database` (see `transcripts.search_sqlite`).
"""

from __future__ import annotations

import functools
import logging
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from sessions.storage.database import Database, as_utc
from sessions.storage.tables import TS, associations, cafes, segments
from transcripts import search_postgres, search_sqlite
from transcripts.search_query import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    MAX_OFFSET,
    Highlighter,
    ParsedQuery,
    SearchFilters,
    SearchHit,
    SearchQueryError,
    SearchResult,
    Term,
    parse_filters,
    parse_paging,
    parse_query,
)

__all__ = [
    "SearchFilters",
    "SearchHit",
    "SearchQueryError",
    "SearchResult",
    "Term",
    "install_search_index",
    "is_search_object",
    "parse_filters",
    "parse_paging",
    "parse_query",
    "search",
    "uninstall_search_index",
]

log = logging.getLogger("causerie.transcripts")

# Ranking looks at COUNT_CAP + 1 matches at most (the newest on SQLite), and counting stops
# there: a very common word costs a bounded time, its total reads "more than 1000".
COUNT_CAP = 1000
CANDIDATES = COUNT_CAP + 1

# Schema objects that are not in `sessions.storage.tables.metadata` (Alembic autogenerate
# must leave them alone: use `is_search_object` in env.py's include_name/include_object).
_SEARCH_OBJECTS = (
    search_sqlite.FTS_TABLE, search_postgres.VECTOR_COLUMN, search_postgres.INDEX_NAME,
    search_postgres.SCOPE_COLUMN,
)


def is_search_object(name: str | None) -> bool:
    """True for the tables, columns and indexes of the search index (``segments_fts*``,
    ``segments.search_vector`` and ``search_scope``, their indexes)."""
    return bool(name) and str(name).startswith(_SEARCH_OBJECTS)


def open_database(url: str, *, echo: bool = False) -> Database:
    """The `Database` a process that writes or searches segments uses: on SQLite, each new
    connection of its engine gets the stemming function the index triggers call (its
    connect hook; no listener outside this engine)."""
    return Database(url, echo=echo, connect_hooks=(search_sqlite.on_connect,))


def install_search_index(conn: Connection, *, scope: bool = True) -> None:
    """Create the search index on a database that has the tables (sync: Alembic's
    ``op.get_bind()``, or ``await aconn.run_sync(install_search_index)``). ``scope``: with
    the filters in the index (migrations 0014 on PostgreSQL, 0015 on SQLite; migrations
    0002 and 0003 pass False and build the index those two left)."""
    if conn.dialect.name == "sqlite":
        search_sqlite.install(conn, themed=scope)
    elif conn.dialect.name == "postgresql":
        search_postgres.install(conn)
        if scope:
            search_postgres.install_scope(conn)
    else:  # pragma: no cover - the config accepts only these two
        raise RuntimeError(f"no search index for {conn.dialect.name}")


def uninstall_search_index(conn: Connection) -> None:
    if conn.dialect.name == "sqlite":
        search_sqlite.uninstall(conn)
    elif conn.dialect.name == "postgresql":
        search_postgres.uninstall(conn)


def filter_clauses(filters: SearchFilters) -> list[sa.ColumnElement[bool]]:
    """The filters' conditions, each value a named parameter (`filter_params` gives them),
    so a statement built once serves every value."""
    clauses: list[sa.ColumnElement[bool]] = []
    params = filter_params(filters)
    if "f_theme" in params:
        clauses.append(cafes.c.theme == sa.bindparam("f_theme", params["f_theme"]))
    if "f_cafe" in params:
        clauses.append(cafes.c.slug == sa.bindparam("f_cafe", params["f_cafe"]))
    if "f_association" in params:
        clauses.append(cafes.c.association_id == sa.select(associations.c.id).where(
            associations.c.slug == sa.bindparam("f_association", params["f_association"]))
            .scalar_subquery())
    if "f_from" in params:
        clauses.append(cafes.c.starts_at >= sa.bindparam("f_from", params["f_from"], type_=TS))
    if "f_to" in params:
        clauses.append(cafes.c.starts_at < sa.bindparam("f_to", params["f_to"], type_=TS))
    return clauses


def filter_params(filters: SearchFilters) -> dict[str, Any]:
    params: dict[str, Any] = {}
    if filters.theme:
        params["f_theme"] = filters.theme
    if filters.cafe:
        params["f_cafe"] = filters.cafe
    if filters.association:
        params["f_association"] = filters.association
    if filters.date_from:
        params["f_from"] = datetime.combine(filters.date_from, time(), UTC)
    if filters.date_to and filters.date_to < date.max:  # 9999-12-31: no upper bound
        params["f_to"] = datetime.combine(filters.date_to + timedelta(days=1), time(), UTC)
    return params


# A template of each shape of query (kinds of its terms, which filters, the page): a search
# fills a statement built once with its values. Building a statement costs more CPU than
# running it (about 1 ms on SQLite, 3-4 ms for PostgreSQL's 16 branches, bench/search.py);
# SQLAlchemy then reuses its compiled form too. A pure function of its arguments, memoised.
_PLACEHOLDER_DAY = date(2000, 1, 1)


@functools.lru_cache(maxsize=512)
def _statements(sqlite: bool, kinds: tuple[str, ...], filtered: frozenset[str],
                limit: int, offset: int) -> tuple[sa.Select[Any], sa.Select[Any]]:
    """The page of a shape of query, and the count of its candidates."""
    backend = search_sqlite if sqlite else search_postgres
    template = ParsedQuery(tuple(
        Term(kind, ("x", "y") if kind == "phrase" else ("x",))  # type: ignore[arg-type]
        for kind in kinds))
    day = _PLACEHOLDER_DAY
    filters = SearchFilters(theme="x" if "f_theme" in filtered else None,
                            cafe="x" if "f_cafe" in filtered else None,
                            association="x" if "f_association" in filtered else None,
                            date_from=day if "f_from" in filtered else None,
                            date_to=day if "f_to" in filtered else None)
    candidates = backend.candidates(template, filter_clauses(filters), CANDIDATES, filtered)
    # One statement: the window counts the candidates (at most CANDIDATES) before the page
    # is cut, so there is no second scan for the total. The candidates are ids and scores
    # only: the page is cut first, then only its rows are joined to their text, words and
    # café (the candidates' texts are never carried through the sort).
    counted = sa.select(candidates, sa.func.count().over().label("total")).subquery("counted")
    keys = (sa.select(counted).order_by(counted.c.score.desc(), counted.c.id)
            .limit(limit).offset(offset)).subquery("page")
    page = (sa.select(
        segments.c.id, segments.c.start_seconds, segments.c.end_seconds, segments.c.speaker,
        segments.c.text, segments.c.words, cafes.c.slug, cafes.c.title, cafes.c.theme,
        cafes.c.starts_at, keys.c.score, keys.c.total)
        .select_from(keys.join(segments, segments.c.id == keys.c.id)
                     .join(cafes, cafes.c.id == segments.c.cafe_id))
        .order_by(keys.c.score.desc(), keys.c.id))
    return page, sa.select(sa.func.count()).select_from(candidates)


async def _ranked_page(conn: AsyncConnection, sqlite: bool, parsed: ParsedQuery,
                       filters: SearchFilters, limit: int, offset: int, plain: bool = False,
                       ) -> tuple[list[sa.Row[Any]], int]:
    """One page of a backend's candidates, best first, and how many there are."""
    backend = search_sqlite if sqlite else search_postgres
    given = filter_params(filters)
    params = backend.query_params(parsed, given) | given
    shape = (sqlite, tuple(t.kind for t in parsed.terms),
             frozenset(p for p in params if p.startswith("f_")), limit, offset)
    page, count = _statements.__wrapped__(*shape) if plain else _statements(*shape)
    rows = list(await conn.execute(page, params))
    if rows:
        return rows, int(rows[0].total)
    if offset == 0:
        return rows, 0
    # A page past the end: count on its own.
    total = await conn.scalar(count, params)
    return rows, int(total or 0)


async def search(
    db: Database,
    query: str | ParsedQuery,
    limit: int = DEFAULT_LIMIT,
    offset: int = 0,
    filters: SearchFilters | None = None,
    *,
    plain: bool = False,
) -> SearchResult:
    """Ranked hits of ``query`` in published transcripts. Raises `SearchQueryError` (400) for
    a query too long or bounds out of range; an empty query (or stop words only) finds
    nothing without touching the database. ``plain`` (bench/search.py's baseline): the
    statement built and compiled for this search alone, as before statements were kept."""
    parsed = query if isinstance(query, ParsedQuery) else parse_query(query)
    text = query if isinstance(query, str) else " ".join(t.text for t in parsed.terms)
    if not 1 <= limit <= MAX_LIMIT or not 0 <= offset <= MAX_OFFSET:
        raise SearchQueryError("limit is between 1 and %(max)s.", max=MAX_LIMIT)
    filters = filters or SearchFilters()
    if parsed.is_empty:
        return SearchResult(text, (), 0, True, limit, offset, ())
    async with db.connect() as conn:
        rows, total = await _ranked_page(conn, db.is_sqlite, parsed, filters, limit, offset,
                                         plain)
    moments = {row.id: row.words if isinstance(row.words, list) else [] for row in rows}
    # Both backends search the Snowball stems that `search_query.stem` computes.
    highlighter = Highlighter.for_terms(parsed.terms, parsed.stems)
    hits = tuple(
        SearchHit(
            segment_id=row.id,
            cafe_slug=row.slug,
            cafe_title=row.title,
            cafe_theme=row.theme,
            cafe_starts_at=as_utc(row.starts_at),
            start=float(row.start_seconds),
            end=float(row.end_seconds),
            speaker=row.speaker,
            text=row.text,
            snippet=highlighter.snippet(row.text),
            score=float(row.score),
            moment=highlighter.first_match(moments.get(row.id, ())),
        )
        for row in rows
    )
    exact = total <= COUNT_CAP
    return SearchResult(
        text, hits, min(total, COUNT_CAP), exact, limit, offset, parsed.terms
    )
