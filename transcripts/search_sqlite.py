"""Transcript search on SQLite: an FTS5 index over the French stems of ``segments.text``.

``segments_fts`` is an FTS5 table with one column, ``stems``: each segment's words
normalized (no accents, lower case) and stemmed with the Snowball French algorithm, the very
lexemes PostgreSQL's ``fr_unaccent`` configuration indexes (`transcripts.search_query.stem`).
So ``jeux vidéo``, ``réseaux``/``réseau``, ``harcelé``/``harceler``/``harcèlement`` match as
they do on PostgreSQL, and a phrase still matches its words in order, side by side.

SQLite has no French stemmer, so the stems are computed in Python: `register_functions`
adds ``causerie_fr_stems(text)`` to a connection, and triggers call it on every insert and
text update of ``segments`` (deletes need no function: the FTS table keeps its own copy of
the stems and deletes by rowid). Every connection that may insert segments must have the
function: `on_connect` is the connect hook of the engine the app builds
(`transcripts.search.open_database` hands it to `Database`), and `install` adds it to the
connection it runs on (a migration's). Nothing is registered by importing this module.
Ranking: bm25.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Collection, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from sessions.storage.tables import cafes, segments
from transcripts.search_query import ParsedQuery, stemmed_text

FTS_TABLE = "segments_fts"
STEMS_FUNCTION = "causerie_fr_stems"

DDL: tuple[str, ...] = (
    # A regular FTS5 table (it stores the stems): a delete by rowid needs no Python function.
    f"""CREATE VIRTUAL TABLE IF NOT EXISTS {FTS_TABLE} USING fts5(
        stems, tokenize='unicode61 remove_diacritics 2', prefix='3')""",
    f"""CREATE TRIGGER IF NOT EXISTS {FTS_TABLE}_ai AFTER INSERT ON segments BEGIN
        INSERT INTO {FTS_TABLE}(rowid, stems) VALUES (new.id, {STEMS_FUNCTION}(new.text));
    END""",
    f"""CREATE TRIGGER IF NOT EXISTS {FTS_TABLE}_ad AFTER DELETE ON segments BEGIN
        DELETE FROM {FTS_TABLE} WHERE rowid = old.id;
    END""",
    f"""CREATE TRIGGER IF NOT EXISTS {FTS_TABLE}_au AFTER UPDATE OF id, text ON segments BEGIN
        DELETE FROM {FTS_TABLE} WHERE rowid = old.id;
        INSERT INTO {FTS_TABLE}(rowid, stems) VALUES (new.id, {STEMS_FUNCTION}(new.text));
    END""",
    # Index what is already there (a database upgraded with segments in it).
    f"""INSERT INTO {FTS_TABLE}(rowid, stems)
        SELECT id, {STEMS_FUNCTION}(text) FROM segments ORDER BY id""",
)

DROP: tuple[str, ...] = (
    f"DROP TRIGGER IF EXISTS {FTS_TABLE}_ai",
    f"DROP TRIGGER IF EXISTS {FTS_TABLE}_ad",
    f"DROP TRIGGER IF EXISTS {FTS_TABLE}_au",
    f"DROP TABLE IF EXISTS {FTS_TABLE}",
)


def _stems(text: object) -> str | None:
    return None if text is None else stemmed_text(str(text))


def register_functions(dbapi_connection: Any) -> None:
    """Add ``causerie_fr_stems`` to a DBAPI connection (sqlite3, or SQLAlchemy's aiosqlite
    adapter); other drivers are left alone."""
    create = getattr(dbapi_connection, "create_function", None)
    if create is None:
        return
    driver = getattr(dbapi_connection, "driver_connection", dbapi_connection)
    if not isinstance(driver, sqlite3.Connection) and "sqlite" not in type(driver).__module__:
        return
    create(STEMS_FUNCTION, 1, _stems, deterministic=True)


def on_connect(dbapi_connection: Any, _record: Any) -> None:
    """A `sessions.storage.database.ConnectHook`: `register_functions` on each new
    connection of an engine."""
    register_functions(dbapi_connection)


def install(conn: Connection) -> None:
    register_functions(conn.connection.dbapi_connection)
    for statement in DDL:
        conn.exec_driver_sql(statement)


def uninstall(conn: Connection) -> None:
    for statement in DROP:
        conn.exec_driver_sql(statement)


def optimize(conn: Connection) -> None:
    """Merge the FTS5 b-trees (after a bulk load)."""
    conn.exec_driver_sql(f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('optimize')")


def query_params(parsed: ParsedQuery) -> dict[str, Any]:
    """The values of a query for the statement `candidates` builds (any query of its shape)."""
    return {"fts_query": parsed.stemmed().to_fts5()}


def candidates(parsed: ParsedQuery, clauses: Sequence[sa.ColumnElement[bool]],
               cap: int, scoped: Collection[str] = ()) -> sa.Subquery:
    """The newest ``cap`` matches (rowid order) under the filter ``clauses`` (from the
    caller, `transcripts.search`): their ``id`` and ``score``, higher is better, so a very
    common word costs a bounded time (`transcripts.search` ranks and pages them, and reads
    the text of the page's rows only)."""
    fts = sa.table(FTS_TABLE, sa.column("rowid"))
    match = sa.text(f"{FTS_TABLE} MATCH :fts_query").bindparams(
        sa.bindparam("fts_query", parsed.stemmed().to_fts5(), type_=sa.Text))
    joined = fts.join(segments, segments.c.id == fts.c.rowid).join(
        cafes, cafes.c.id == segments.c.cafe_id
    )
    inner = (
        sa.select(
            fts.c.rowid.label("id"),
            # bm25 is better when lower: negated, both backends rank by score descending.
            (-sa.literal_column(f"bm25({FTS_TABLE})")).label("score"),
        )
        .select_from(joined)
        .where(match, cafes.c.transcript_published.is_(True), *clauses)
    ).order_by(fts.c.rowid.desc()).limit(cap).subquery("hits")
    return inner
