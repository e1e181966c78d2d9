"""Alembic, driven from the Causerie config: upgrade, current and head revisions."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

INI = Path(__file__).parent / "alembic.ini"


def alembic_config(url: str) -> AlembicConfig:
    cfg = AlembicConfig(str(INI))
    cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head", *, first_association: str = "") -> None:
    """Apply migrations (blocking: call outside the event loop or in a thread).
    `first_association`: the name of the association existing cafés go into (0012)."""
    cfg = alembic_config(url)
    if first_association:
        cfg.attributes["first_association"] = first_association
    command.upgrade(cfg, revision)


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config("")).get_current_head()


def current_revision(url: str) -> str | None:
    async def read() -> str | None:
        engine = create_async_engine(url)
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(_current)
        finally:
            await engine.dispose()

    return asyncio.run(read())


def _current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()
