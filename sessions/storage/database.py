"""The database seam: one async engine, transactions, SQLite pragmas.

SQLite (WAL, foreign keys on) is the embedded default; PostgreSQL by URL. Everything goes
through SQLAlchemy Core so the same repositories run on both.
"""

from __future__ import annotations

import asyncio
import contextvars
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

# set while the current task holds its Database's SQLite write turn (`Database.transaction`)
_HOLDING: contextvars.ContextVar[bool] = contextvars.ContextVar("causerie_db_writing",
                                                                default=False)


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
        self._write_lock: asyncio.Lock | None = None
        if self.is_sqlite:
            event.listen(sync_engine, "connect", _sqlite_pragmas)
            self._write_lock = asyncio.Lock()
        for hook in connect_hooks:
            event.listen(sync_engine, "connect", hook)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """A connection inside one transaction: committed on success, rolled back on error.

        On SQLite the transactions of this process take turns on an asyncio lock, first come
        first served, before SQLite's own write lock: its busy handler polls with growing
        sleeps, so under a burst (a join storm's batches) a waiting writer could miss every
        window for `busy_timeout` and fail with "database is locked". A transaction opened
        inside another one of the same task does not wait for itself."""
        if self._write_lock is None or _HOLDING.get():
            async with self.engine.begin() as conn:
                yield conn
            return
        async with self._write_lock:
            token = _HOLDING.set(True)
            try:
                async with self.engine.begin() as conn:
                    yield conn
            finally:
                _HOLDING.reset(token)

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
