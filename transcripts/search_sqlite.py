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

Migration 0015: prefix indexes of 3 to 8 characters (``harcel*`` read and merged the
postings of every word it starts, twice with bm25's counts: 17 ms, 6 now), and the café's
theme in the index: a second FTS5 table, ``segments_fts_themed``, holds each stem behind a
code of its café's theme (``x`` and 12 hex digits of the theme's md5: ``x5f0c…harcel``),
kept by the triggers (``causerie_fr_themed``), also when a café's theme changes. A search
of one term filtered by theme matches that table with the theme's code, so it reads only
the theme's postings instead of five times as many rows, each joined to its café, and
bm25 counts the theme's matches only: the same order (for one term bm25's IDF is a
constant factor; row and average lengths are those of the stems). Every other search
matches ``segments_fts`` as before. The café-level conditions still decide: the theme
table only narrows what is read.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from sessions.storage.tables import cafes, segments
from transcripts.search_query import ParsedQuery, Term, stemmed_text

FTS_TABLE = "segments_fts"
THEMED_TABLE = "segments_fts_themed"
PREFIXES = "3 4 5 6 7 8"
# The theme code is 13 characters: the same prefix lengths behind it.
THEMED_PREFIXES = " ".join(str(13 + int(n)) for n in PREFIXES.split())
STEMS_FUNCTION = "causerie_fr_stems"
THEMED_FUNCTION = "causerie_fr_themed"
_THEME_OF = "(SELECT theme FROM cafes WHERE id = new.cafe_id)"

def ddl(*, themed: bool = True) -> tuple[str, ...]:
    """The statements that make the index; ``themed=False``: as migration 0003 made it (no
    theme column: migrations before 0015, and 0015's downgrade)."""
    if not themed:
        return DDL_0003
    return DDL


_TOKENIZE = "tokenize='unicode61 remove_diacritics 2'"
_THEMED_OF_NEW = (f"INSERT INTO {THEMED_TABLE}(rowid, themed)"
                  f" SELECT new.id, {THEMED_FUNCTION}(stems, {_THEME_OF})"
                  f" FROM {FTS_TABLE} WHERE rowid = new.id;")

DDL: tuple[str, ...] = (
    # Regular FTS5 tables (they store their text): a delete by rowid needs no function.
    f"""CREATE VIRTUAL TABLE IF NOT EXISTS {FTS_TABLE} USING fts5(
        stems, {_TOKENIZE}, prefix='{PREFIXES}')""",
    f"""CREATE VIRTUAL TABLE IF NOT EXISTS {THEMED_TABLE} USING fts5(
        themed, {_TOKENIZE}, prefix='{THEMED_PREFIXES}')""",
    f"""CREATE TRIGGER IF NOT EXISTS {FTS_TABLE}_ai AFTER INSERT ON segments BEGIN
        INSERT INTO {FTS_TABLE}(rowid, stems) VALUES (new.id, {STEMS_FUNCTION}(new.text));
        {_THEMED_OF_NEW}
    END""",
    f"""CREATE TRIGGER IF NOT EXISTS {FTS_TABLE}_ad AFTER DELETE ON segments BEGIN
        DELETE FROM {FTS_TABLE} WHERE rowid = old.id;
        DELETE FROM {THEMED_TABLE} WHERE rowid = old.id;
    END""",
    f"""CREATE TRIGGER IF NOT EXISTS {FTS_TABLE}_au AFTER UPDATE OF id, text, cafe_id
        ON segments BEGIN
        DELETE FROM {FTS_TABLE} WHERE rowid = old.id;
        DELETE FROM {THEMED_TABLE} WHERE rowid = old.id;
        INSERT INTO {FTS_TABLE}(rowid, stems) VALUES (new.id, {STEMS_FUNCTION}(new.text));
        {_THEMED_OF_NEW}
    END""",
    f"""CREATE TRIGGER IF NOT EXISTS {FTS_TABLE}_theme AFTER UPDATE OF theme ON cafes
        WHEN old.theme IS NOT new.theme BEGIN
        DELETE FROM {THEMED_TABLE}
        WHERE rowid IN (SELECT id FROM segments WHERE cafe_id = new.id);
        INSERT INTO {THEMED_TABLE}(rowid, themed)
        SELECT rowid, {THEMED_FUNCTION}(stems, new.theme) FROM {FTS_TABLE}
        WHERE rowid IN (SELECT id FROM segments WHERE cafe_id = new.id);
    END""",
    # Index what is already there (a database upgraded with segments in it).
    f"""INSERT INTO {FTS_TABLE}(rowid, stems)
        SELECT id, {STEMS_FUNCTION}(text) FROM segments ORDER BY id""",
    f"""INSERT INTO {THEMED_TABLE}(rowid, themed)
        SELECT f.rowid, {THEMED_FUNCTION}(f.stems, cafes.theme) FROM {FTS_TABLE} f
        JOIN segments ON segments.id = f.rowid JOIN cafes ON cafes.id = segments.cafe_id
        ORDER BY f.rowid""",
)

DDL_0003: tuple[str, ...] = (
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
    f"""INSERT INTO {FTS_TABLE}(rowid, stems)
        SELECT id, {STEMS_FUNCTION}(text) FROM segments ORDER BY id""",
)

DROP: tuple[str, ...] = (
    f"DROP TRIGGER IF EXISTS {FTS_TABLE}_ai",
    f"DROP TRIGGER IF EXISTS {FTS_TABLE}_ad",
    f"DROP TRIGGER IF EXISTS {FTS_TABLE}_au",
    f"DROP TRIGGER IF EXISTS {FTS_TABLE}_theme",
    f"DROP TABLE IF EXISTS {FTS_TABLE}",
    f"DROP TABLE IF EXISTS {THEMED_TABLE}",
)


def _stems(text: object) -> str | None:
    return None if text is None else stemmed_text(str(text))


def theme_code(theme: str) -> str:
    """The prefix of a theme's tokens in the themed table: 13 letters and digits (``x``
    and 12 hex digits of the theme's md5)."""
    return "x" + hashlib.md5(theme.encode(), usedforsecurity=False).hexdigest()[:12]


def _themed(stems: object, theme: object) -> str | None:
    if stems is None:
        return None
    code = theme_code(str(theme))
    return " ".join(code + token for token in str(stems).split(" ") if token)


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
    create(THEMED_FUNCTION, 2, _themed, deterministic=True)


def on_connect(dbapi_connection: Any, _record: Any) -> None:
    """A `sessions.storage.database.ConnectHook`: `register_functions` on each new
    connection of an engine."""
    register_functions(dbapi_connection)


def install(conn: Connection, *, themed: bool = True) -> None:
    register_functions(conn.connection.dbapi_connection)
    for statement in ddl(themed=themed):
        conn.exec_driver_sql(statement)


def reinstall(conn: Connection, *, themed: bool = True) -> None:
    """Migration 0015 (and its downgrade): the index built again in the shape asked."""
    uninstall(conn)
    install(conn, themed=themed)


def uninstall(conn: Connection) -> None:
    for statement in DROP:
        conn.exec_driver_sql(statement)


def optimize(conn: Connection) -> None:
    """Merge the FTS5 b-trees (after a bulk load)."""
    for table in (FTS_TABLE, THEMED_TABLE):
        conn.exec_driver_sql(f"INSERT INTO {table}({table}) VALUES ('optimize')")


def _themed_search(terms: int, theme: object) -> bool:
    """Whether a search reads the themed table: one term under a theme filter."""
    return theme is not None and terms == 1


def query_params(parsed: ParsedQuery, filters: Mapping[str, Any] | None = None
                 ) -> dict[str, Any]:
    """The values of a query for the statement `candidates` builds (any query of its shape):
    one term under a theme filter (``f_theme`` in ``filters``) searches the themed table,
    the theme's code before each token; anything else the stems."""
    stemmed = parsed.stemmed()
    theme = (filters or {}).get("f_theme")
    if _themed_search(len(stemmed.terms), theme):
        code = theme_code(str(theme))
        stemmed = ParsedQuery(tuple(Term(t.kind, tuple(code + token for token in t.tokens))
                                    for t in stemmed.terms))
    return {"fts_query": stemmed.to_fts5()}


def candidates(parsed: ParsedQuery, clauses: Sequence[sa.ColumnElement[bool]],
               cap: int, scoped: Collection[str] = ()) -> sa.Subquery:
    """The newest ``cap`` matches (rowid order) under the filter ``clauses`` (from the
    caller, `transcripts.search`): their ``id`` and ``score``, higher is better, so a very
    common word costs a bounded time (`transcripts.search` ranks and pages them, and reads
    the text of the page's rows only). ``scoped``: the filters set; one term under a theme
    filter reads the themed table (`query_params` gives the matching text)."""
    table = FTS_TABLE
    if _themed_search(len(parsed.terms), "x" if "f_theme" in scoped else None):
        table = THEMED_TABLE
    fts = sa.table(table, sa.column("rowid"))
    match = sa.text(f"{table} MATCH :fts_query").bindparams(
        sa.bindparam("fts_query", type_=sa.Text))
    joined = fts.join(segments, segments.c.id == fts.c.rowid).join(
        cafes, cafes.c.id == segments.c.cafe_id
    )
    inner = (
        sa.select(
            fts.c.rowid.label("id"),
            # bm25 is better when lower: negated, both backends rank by score descending.
            (-sa.literal_column(f"bm25({table})")).label("score"),
        )
        .select_from(joined)
        .where(match, cafes.c.transcript_published.is_(True), *clauses)
    ).order_by(fts.c.rowid.desc()).limit(cap).subquery("hits")
    return inner
