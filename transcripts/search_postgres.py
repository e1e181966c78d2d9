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
before. Ranking: ``ts_rank`` over the candidates only.

Filters go into the index too (migration 0014): ``segments.search_scope`` is a tsvector of
the café's theme, association and id (``t<md5 of the theme>``, ``a<association id>``,
``c<café id>``), kept by triggers (a segment's when it is inserted or moves café; every
segment of a café whose theme or association changes), and each bucket's GIN index covers
``(search_vector, search_scope)``. A filtered search adds ``search_scope @@ <its scope>`` to
every branch, so a bucket yields only the filtered café's matches and the heap is read for
those rows only (a theme filter read five times as many rows as it kept, half of its time).
The café-level conditions still decide (each branch joins its rows to ``cafes``): the scope
only narrows what is read, so results are the same. Queries are built from parsed tokens
with bound parameters (``plainto_tsquery``, ``phraseto_tsquery``, ``to_tsquery(token ||
':*')`` for prefixes, tokens being letters and digits only), never from raw user text.
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import TSQUERY
from sqlalchemy.engine import Connection

from sessions.storage.tables import associations, cafes, segments
from transcripts.search_query import ParsedQuery

CONFIG_NAME = "fr_unaccent"
VECTOR_COLUMN = "search_vector"
INDEX_NAME = "ix_segments_search_vector"
SCOPE_COLUMN = "search_scope"
SCOPE_FUNCTION = "causerie_search_scope"
SCOPE_TRIGGERS = ("segments_search_scope", "cafes_search_scope")
BUCKETS = 16
# Runs of BLOCK consecutive segments share a bucket: a café's rows stay side by side on disk,
# so a bucket's candidates sit on few heap pages (``id % BUCKETS`` scattered them, one a page).
BLOCK = 256
_BUCKET_SQL = f"((id / {BLOCK}) % {BUCKETS})"

_CONFIG: sa.ColumnElement[Any] = sa.literal_column(f"'{CONFIG_NAME}'::regconfig")
_VECTOR: sa.ColumnElement[Any] = sa.literal_column(f"segments.{VECTOR_COLUMN}")
_SCOPE: sa.ColumnElement[Any] = sa.literal_column(f"segments.{SCOPE_COLUMN}")


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
    if _has_column(conn, SCOPE_COLUMN):
        _create_indexes(conn, scoped=True)
    else:
        _create_indexes(conn, scoped=False)


def _has_column(conn: Connection, name: str) -> bool:
    return bool(conn.scalar(sa.text(
        "SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema()"
        " AND table_name = 'segments' AND column_name = :name"), {"name": name}))


def _create_indexes(conn: Connection, *, scoped: bool) -> None:
    """The bucket indexes: ``_s<n>`` on (vector, scope) with the scope (0014), else the
    ``_b<n>`` on the vector alone (0003)."""
    suffix, columns = ("s", f"{VECTOR_COLUMN}, {SCOPE_COLUMN}") if scoped else ("b", VECTOR_COLUMN)
    for bucket in range(BUCKETS):
        conn.exec_driver_sql(
            f"CREATE INDEX IF NOT EXISTS {INDEX_NAME}_{suffix}{bucket} ON segments"
            f" USING gin ({columns}) WHERE {_BUCKET_SQL} = {bucket}"
        )


def install_scope(conn: Connection) -> None:
    """Migration 0014: the scope column, its triggers, its values for the segments already
    there, and the bucket indexes on (vector, scope) in place of those on the vector alone.
    Needs ``cafes.association_id`` (0012). Idempotent."""
    conn.exec_driver_sql(
        f"ALTER TABLE segments ADD COLUMN IF NOT EXISTS {SCOPE_COLUMN} tsvector")
    # The scope of a café: lexemes a user's text never makes (a letter then hex or digits).
    conn.exec_driver_sql(f"""
        CREATE OR REPLACE FUNCTION {SCOPE_FUNCTION}(cafe integer) RETURNS tsvector
        LANGUAGE sql STABLE AS $$
            SELECT array_to_tsvector(ARRAY['t' || md5(theme), 'a' || association_id::text,
                                           'c' || id::text])
            FROM cafes WHERE id = cafe
        $$""")
    conn.exec_driver_sql(f"""
        CREATE OR REPLACE FUNCTION {SCOPE_TRIGGERS[0]}() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            NEW.{SCOPE_COLUMN} := {SCOPE_FUNCTION}(NEW.cafe_id);
            RETURN NEW;
        END $$""")
    conn.exec_driver_sql(f"""
        CREATE OR REPLACE FUNCTION {SCOPE_TRIGGERS[1]}() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            UPDATE segments SET {SCOPE_COLUMN} = {SCOPE_FUNCTION}(NEW.id)
            WHERE cafe_id = NEW.id;
            RETURN NULL;
        END $$""")
    conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {SCOPE_TRIGGERS[0]} ON segments")
    conn.exec_driver_sql(
        f"CREATE TRIGGER {SCOPE_TRIGGERS[0]} BEFORE INSERT OR UPDATE OF cafe_id ON segments"
        f" FOR EACH ROW EXECUTE FUNCTION {SCOPE_TRIGGERS[0]}()")
    conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {SCOPE_TRIGGERS[1]} ON cafes")
    conn.exec_driver_sql(
        f"CREATE TRIGGER {SCOPE_TRIGGERS[1]} AFTER UPDATE OF theme, association_id ON cafes"
        " FOR EACH ROW WHEN (OLD.theme IS DISTINCT FROM NEW.theme"
        " OR OLD.association_id IS DISTINCT FROM NEW.association_id)"
        f" EXECUTE FUNCTION {SCOPE_TRIGGERS[1]}()")
    if not conn.scalar(sa.text(
            f"SELECT 1 FROM pg_indexes WHERE indexname = '{INDEX_NAME}_s{BUCKETS - 1}'")):
        drop_indexes(conn)  # the update below is faster without them
        conn.exec_driver_sql(
            f"UPDATE segments SET {SCOPE_COLUMN} = {SCOPE_FUNCTION}(cafe_id)"
            f" WHERE {SCOPE_COLUMN} IS NULL")
    _create_indexes(conn, scoped=True)


def uninstall_scope(conn: Connection) -> None:
    """Back to 0013: the bucket indexes on the vector alone, no scope."""
    conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {SCOPE_TRIGGERS[0]} ON segments")
    conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {SCOPE_TRIGGERS[1]} ON cafes")
    for name in (*SCOPE_TRIGGERS, SCOPE_FUNCTION):
        conn.exec_driver_sql(f"DROP FUNCTION IF EXISTS {name} CASCADE")
    drop_indexes(conn)
    conn.exec_driver_sql(f"ALTER TABLE segments DROP COLUMN IF EXISTS {SCOPE_COLUMN}")
    _create_indexes(conn, scoped=False)


def drop_indexes(conn: Connection) -> None:
    """Drop the GIN indexes (a bulk load is faster without them; `install` makes them)."""
    conn.exec_driver_sql(f"DROP INDEX IF EXISTS {INDEX_NAME}")
    for bucket in range(BUCKETS):
        conn.exec_driver_sql(f"DROP INDEX IF EXISTS {INDEX_NAME}_b{bucket}")
        conn.exec_driver_sql(f"DROP INDEX IF EXISTS {INDEX_NAME}_s{bucket}")


def uninstall(conn: Connection) -> None:
    if _has_column(conn, SCOPE_COLUMN):
        uninstall_scope(conn)
    drop_indexes(conn)
    conn.exec_driver_sql(f"ALTER TABLE segments DROP COLUMN IF EXISTS {VECTOR_COLUMN}")
    conn.exec_driver_sql(f"DROP TEXT SEARCH CONFIGURATION IF EXISTS {CONFIG_NAME}")


def query_params(parsed: ParsedQuery, filters: Mapping[str, Any] | None = None
                 ) -> dict[str, Any]:
    """The values of a query for the statement `candidates` builds (any query of its shape:
    the kinds of its terms): one text per term (the filters are parameters of their own)."""
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


def scope_query(scoped: Collection[str]) -> sa.ScalarSelect[Any] | None:
    """The tsquery of the scope of a search's filters (``f_theme``, ``f_association``,
    ``f_cafe``, the names `transcripts.search.filter_params` gives their values), or None
    when none of them is set. A filter naming no association or café gives NULL: nothing."""
    parts: list[sa.ColumnElement[Any]] = []
    if "f_theme" in scoped:
        parts.append(sa.literal("t") + sa.func.md5(sa.bindparam("f_theme", type_=sa.Text)))
    if "f_association" in scoped:
        parts.append(sa.literal("a") + sa.cast(
            sa.select(associations.c.id).where(associations.c.slug == sa.bindparam(
                "f_association", type_=sa.Text)).scalar_subquery(), sa.Text))
    if "f_cafe" in scoped:
        parts.append(sa.literal("c") + sa.cast(
            sa.select(cafes.c.id).where(cafes.c.slug == sa.bindparam("f_cafe", type_=sa.Text))
            .scalar_subquery(), sa.Text))
    if not parts:
        return None
    lexemes: list[sa.ColumnElement[Any]] = [sa.cast(part, TSQUERY) for part in parts]
    return sa.select(functools.reduce(lambda a, b: a.op("&&")(b), lexemes)).scalar_subquery()


def candidates(parsed: ParsedQuery, clauses: Sequence[sa.ColumnElement[bool]],
               cap: int, scoped: Collection[str] = ()) -> sa.Subquery:
    """The first ``cap`` matches found under the filter ``clauses`` (from the caller,
    `transcripts.search`): their ``id`` and ``score`` (ts_rank, higher is better), so a very
    common word costs a bounded time (`transcripts.search` ranks and pages them, and reads
    the text of the page's rows only). ``scoped``: the filters set (`scope_query`), which
    each branch also asks of the index."""
    # A scalar subquery: an InitPlan that PostgreSQL evaluates once (and can use in the GIN
    # index condition), not a function call per row under a generic prepared plan.
    q = sa.select(tsquery(parsed)).scalar_subquery()
    scope = scope_query(scoped)
    in_scope = [] if scope is None else [_SCOPE.op("@@")(scope)]
    # One branch per bucket, its bucket written as a literal so that the planner proves the
    # partial index's predicate (also under a generic plan); the branches run lazily. Each
    # branch joins its rows to their café itself: a join above the UNION let a generic plan
    # (asyncpg prepares statements; PostgreSQL plans them generically after five runs)
    # read every bucket before the first row (cafés outside, the union materialised inside,
    # from an estimate of one row a branch), 4-8 times the work of the streaming plan.
    bucket_of: sa.ColumnElement[Any] = sa.literal_column(f"((segments.id / {BLOCK}) % {BUCKETS})")
    branches = [
        sa.select(segments.c.id, _VECTOR.label("vector"))
        .select_from(segments.join(cafes, cafes.c.id == segments.c.cafe_id))
        .where(_VECTOR.op("@@")(q), *in_scope,
               bucket_of == sa.literal_column(str(bucket)),
               cafes.c.transcript_published.is_(True), *clauses)
        for bucket in range(BUCKETS)
    ]
    found = sa.union_all(*branches).subquery("found")
    inner = (
        sa.select(found.c.id, sa.func.ts_rank(found.c.vector, q).label("score"))
        .limit(cap)
        .subquery("hits")
    )
    return inner
