"""Transcript search on SQLite: an FTS5 index over ``segments.text``.

``segments_fts`` is an external-content FTS5 table (``content='segments'``): it stores only
the index, the text stays in ``segments``; three triggers keep it in step with every insert,
update and delete (a café deleted cascades to its segments, and the triggers fire). Tokenizer
``unicode61 remove_diacritics 2``: case- and accent-insensitive. Ranking: bm25.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from sessions.storage.tables import cafes, segments
from transcripts.search_query import ParsedQuery, SearchFilters

FTS_TABLE = "segments_fts"

DDL: tuple[str, ...] = (
    f"""CREATE VIRTUAL TABLE IF NOT EXISTS {FTS_TABLE} USING fts5(
        text, content='segments', content_rowid='id',
        tokenize='unicode61 remove_diacritics 2', prefix='3')""",
    f"""CREATE TRIGGER IF NOT EXISTS {FTS_TABLE}_ai AFTER INSERT ON segments BEGIN
        INSERT INTO {FTS_TABLE}(rowid, text) VALUES (new.id, new.text);
    END""",
    f"""CREATE TRIGGER IF NOT EXISTS {FTS_TABLE}_ad AFTER DELETE ON segments BEGIN
        INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, text) VALUES ('delete', old.id, old.text);
    END""",
    f"""CREATE TRIGGER IF NOT EXISTS {FTS_TABLE}_au AFTER UPDATE ON segments BEGIN
        INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, text) VALUES ('delete', old.id, old.text);
        INSERT INTO {FTS_TABLE}(rowid, text) VALUES (new.id, new.text);
    END""",
    # Index what is already there (a database upgraded with segments in it).
    f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('rebuild')",
)

DROP: tuple[str, ...] = (
    f"DROP TRIGGER IF EXISTS {FTS_TABLE}_ai",
    f"DROP TRIGGER IF EXISTS {FTS_TABLE}_ad",
    f"DROP TRIGGER IF EXISTS {FTS_TABLE}_au",
    f"DROP TABLE IF EXISTS {FTS_TABLE}",
)


def install(conn: Connection) -> None:
    for statement in DDL:
        conn.exec_driver_sql(statement)


def uninstall(conn: Connection) -> None:
    for statement in DROP:
        conn.exec_driver_sql(statement)


def _filtered(select: sa.Select[Any], filters: SearchFilters) -> sa.Select[Any]:
    from transcripts.search import filter_clauses

    return select.where(*filter_clauses(filters))


async def query(
    conn: AsyncConnection, parsed: ParsedQuery, limit: int, offset: int,
    filters: SearchFilters, candidates: int,
) -> tuple[list[sa.Row[Any]], int]:
    """The page of ranked rows and the number of matches, counted up to ``candidates``.

    Ranking is over the newest ``candidates`` matches (rowid order), so a very common word
    costs a bounded time; a page beyond them is empty."""
    fts = sa.table(FTS_TABLE, sa.column("rowid"))
    match = sa.text(f"{FTS_TABLE} MATCH :fts_query").bindparams(fts_query=parsed.to_fts5())
    joined = fts.join(segments, segments.c.id == fts.c.rowid).join(
        cafes, cafes.c.id == segments.c.cafe_id
    )
    inner = _filtered(
        sa.select(
            segments.c.id, segments.c.start_seconds, segments.c.end_seconds,
            segments.c.speaker, segments.c.text, cafes.c.slug, cafes.c.title, cafes.c.theme,
            cafes.c.starts_at, sa.literal_column(f"bm25({FTS_TABLE})").label("score"),
        )
        .select_from(joined)
        .where(match, cafes.c.transcript_published.is_(True)),
        filters,
    ).order_by(fts.c.rowid.desc()).limit(candidates).subquery("hits")
    # One statement: the window counts the candidates (at most `candidates`) before the
    # page is cut, so there is no second scan for the total.
    counted = sa.select(inner, sa.func.count().over().label("total")).subquery("counted")
    page = (
        sa.select(counted)
        .order_by(counted.c.score, counted.c.id)
        .limit(limit)
        .offset(offset)
    )
    rows = list(await conn.execute(page))
    if rows:
        return rows, int(rows[0].total)
    if offset == 0:
        return rows, 0
    # A page past the end: count on its own.
    total = await conn.scalar(sa.select(sa.func.count()).select_from(inner))
    return rows, int(total or 0)
