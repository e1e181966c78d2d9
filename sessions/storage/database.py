"""The database seam: one async engine, transactions, SQLite pragmas.

SQLite (WAL, foreign keys on) is the embedded default; PostgreSQL by URL. Everything goes
through SQLAlchemy Core so the same repositories run on both.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

log = logging.getLogger("causerie.db")

ConnectHook = Callable[[Any, Any], None]
"""Called with each new DBAPI connection of the engine and its pool record (SQLAlchemy's
``connect`` event): how a package adds what its statements need (a SQL function...)."""


def as_utc(value: datetime | str) -> datetime:
    """A stored time, aware: SQLite hands back naive datetimes (and, through some paths,
    ISO strings); everything stored is UTC."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def as_utc_or_none(value: datetime | str | None) -> datetime | None:
    """`as_utc` of a column that may be NULL."""
    return None if value is None else as_utc(value)


class Database:
    """One engine. ``connect_hooks`` run on each of its new connections, after the SQLite
    pragmas, on this engine only (``transcripts.search.open_database`` passes the SQLite
    stemming function this way)."""

    def __init__(
        self, url: str, *, echo: bool = False, connect_hooks: Sequence[ConnectHook] = ()
    ) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        kwargs: dict[str, Any] = {"echo": echo}
        if not self.is_sqlite:
            kwargs.update(pool_size=10, max_overflow=20, pool_pre_ping=True)
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        sync_engine = self.engine.sync_engine
        if self.is_sqlite:
            event.listen(sync_engine, "connect", _sqlite_pragmas)
        for hook in connect_hooks:
            event.listen(sync_engine, "connect", hook)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """A connection inside one transaction: committed on success, rolled back on error."""
        async with self.engine.begin() as conn:
            yield conn

    @asynccontextmanager
    async def connect(self) -> AsyncIterator[AsyncConnection]:
        """A read connection (autocommit semantics are not relied upon)."""
        async with self.engine.connect() as conn:
            yield conn

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(sa.text("SELECT 1"))

    async def close(self) -> None:
        await self.engine.dispose()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
