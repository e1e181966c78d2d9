"""Transcript search on PostgreSQL: French full-text search, accent-insensitive.

A text search configuration ``fr_unaccent`` (a copy of ``french`` whose word mappings go
through ``unaccent`` then ``french_stem``); a stored generated column
``segments.search_vector = to_tsvector('fr_unaccent', text)`` with a GIN index (the column is
outside ``tables.py``: migrations own it, see `transcripts.search.is_search_object`).
The column is indexed by ``BUCKETS`` partial GIN indexes, one per ``(id / BLOCK) % BUCKETS``:
a GIN scan cannot stop early (it builds the bitmap of every match before the first row), so
a common word or a prefix read the postings of ~100,000 segments. A search is a ``UNION ALL``
of one branch per bucket under ``LIMIT``: PostgreSQL runs the branches one after another and
stops as soon as it holds enough candidates, so a common word reads one bucket's postings
(1/BUCKETS of them), and a rare word reads every bucket's few postings. The candidates are
thereby spread over all cafés and dates (the ids hash into buckets), as deterministic as
before. Ranking: ``ts_rank`` over the candidates only. Queries are built from parsed tokens
with bound parameters (``plainto_tsquery``, ``phraseto_tsquery``, ``to_tsquery(token ||
':*')`` for prefixes, tokens being letters and digits only), never from raw user text.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from sessions.storage.tables import cafes, segments
from transcripts.search_query import ParsedQuery

CONFIG_NAME = "fr_unaccent"
VECTOR_COLUMN = "search_vector"
INDEX_NAME = "ix_segments_search_vector"
BUCKETS = 16
# Runs of BLOCK consecutive segments share a bucket: a café's rows stay side by side on disk,
# so a bucket's candidates sit on few heap pages (``id % BUCKETS`` scattered them, one a page).
BLOCK = 256
_BUCKET_SQL = f"((id / {BLOCK}) % {BUCKETS})"

_CONFIG: sa.ColumnElement[Any] = sa.literal_column(f"'{CONFIG_NAME}'::regconfig")
_VECTOR: sa.ColumnElement[Any] = sa.literal_column(f"segments.{VECTOR_COLUMN}")


def install(conn: Connection) -> None:
    """Create the extension, the configuration, the column and its index (idempotent)."""
    schema = conn.scalar(sa.text(
        "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace"
        " WHERE e.extname = 'unaccent'"
    ))
    if schema is None:
        conn.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS unaccent")
        schema = conn.scalar(sa.text(
            "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n"
            " ON n.oid = e.extnamespace WHERE e.extname = 'unaccent'"
        ))
    exists = conn.scalar(sa.text(
        "SELECT 1 FROM pg_ts_config WHERE cfgname = :name"
        " AND cfgnamespace = current_schema()::regnamespace"
    ), {"name": CONFIG_NAME})
    if not exists:
        dictionary = conn.dialect.identifier_preparer.quote(str(schema)) + ".unaccent"
        conn.exec_driver_sql(
            f"CREATE TEXT SEARCH CONFIGURATION {CONFIG_NAME} (COPY = pg_catalog.french)"
        )
        conn.exec_driver_sql(
            f"ALTER TEXT SEARCH CONFIGURATION {CONFIG_NAME}"
            f" ALTER MAPPING FOR hword, hword_part, word WITH {dictionary}, french_stem"
        )
    conn.exec_driver_sql(
        f"ALTER TABLE segments ADD COLUMN IF NOT EXISTS {VECTOR_COLUMN} tsvector"
        f" GENERATED ALWAYS AS (to_tsvector('{CONFIG_NAME}'::regconfig, text)) STORED"
    )
    conn.exec_driver_sql(f"DROP INDEX IF EXISTS {INDEX_NAME}")  # one index: version 0002
    for bucket in range(BUCKETS):
        conn.exec_driver_sql(
            f"CREATE INDEX IF NOT EXISTS {INDEX_NAME}_b{bucket} ON segments"
            f" USING gin ({VECTOR_COLUMN}) WHERE {_BUCKET_SQL} = {bucket}"
        )


def drop_indexes(conn: Connection) -> None:
    """Drop the GIN indexes (a bulk load is faster without them; `install` makes them)."""
    conn.exec_driver_sql(f"DROP INDEX IF EXISTS {INDEX_NAME}")
    for bucket in range(BUCKETS):
        conn.exec_driver_sql(f"DROP INDEX IF EXISTS {INDEX_NAME}_b{bucket}")


def uninstall(conn: Connection) -> None:
    drop_indexes(conn)
    conn.exec_driver_sql(f"ALTER TABLE segments DROP COLUMN IF EXISTS {VECTOR_COLUMN}")
    conn.exec_driver_sql(f"DROP TEXT SEARCH CONFIGURATION IF EXISTS {CONFIG_NAME}")


def query_params(parsed: ParsedQuery) -> dict[str, Any]:
    """The values of a query for the statement `candidates` builds (any query of its shape:
    the kinds of its terms): one text per term."""
    return {f"term_{index}": term.tokens[0] + ":*" if term.kind == "prefix" else term.text
            for index, term in enumerate(parsed.terms)}


def tsquery(parsed: ParsedQuery) -> sa.ColumnElement[Any]:
    """The parsed terms as one tsquery expression, AND of each term, tokens bound."""
    parts: list[sa.ColumnElement[Any]] = []
    for (name, text), term in zip(query_params(parsed).items(), parsed.terms, strict=True):
        value = sa.bindparam(name, text, type_=sa.Text)
        if term.kind == "prefix":
            parts.append(sa.func.to_tsquery(_CONFIG, value))
        elif term.kind == "phrase":
            parts.append(sa.func.phraseto_tsquery(_CONFIG, value))
        else:
            parts.append(sa.func.plainto_tsquery(_CONFIG, value))
    return functools.reduce(lambda a, b: a.op("&&")(b), parts)


def candidates(parsed: ParsedQuery, clauses: Sequence[sa.ColumnElement[bool]],
               cap: int) -> sa.Subquery:
    """The first ``cap`` matches found under the filter ``clauses`` (from the caller,
    `transcripts.search`): their ``id`` and ``score`` (ts_rank, higher is better), so a very
    common word costs a bounded time (`transcripts.search` ranks and pages them, and reads
    the text of the page's rows only)."""
    # A scalar subquery: an InitPlan that PostgreSQL evaluates once (and can use in the GIN
    # index condition), not a function call per row under a generic prepared plan.
    q = sa.select(tsquery(parsed)).scalar_subquery()
    # One branch per bucket, its bucket written as a literal so that the planner proves the
    # partial index's predicate (also under a generic plan); the branches run lazily.
    bucket_of: sa.ColumnElement[Any] = sa.literal_column(f"((segments.id / {BLOCK}) % {BUCKETS})")
    branches = [
        sa.select(segments.c.id, segments.c.cafe_id, _VECTOR.label("vector"))
        .where(_VECTOR.op("@@")(q), bucket_of == sa.literal_column(str(bucket)))
        for bucket in range(BUCKETS)
    ]
    found = sa.union_all(*branches).subquery("found")
    joined = found.join(cafes, cafes.c.id == found.c.cafe_id)
    inner = (
        sa.select(found.c.id, sa.func.ts_rank(found.c.vector, q).label("score"))
        .select_from(joined)
        .where(cafes.c.transcript_published.is_(True), *clauses)
        .limit(cap)
        .subquery("hits")
    )
    return inner
