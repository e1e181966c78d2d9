"""Migrations: the schema they build matches the tables the code uses, on SQLite and
PostgreSQL, and they go down and up again."""

from __future__ import annotations

from alembic import command

from server.migrate import alembic_config, current_revision, head_revision, upgrade


def test_single_head_and_schema_matches_metadata(database_url: str) -> None:
    assert current_revision(database_url) == head_revision()
    # Raises if autogenerate would emit any operation: models and migrations agree.
    command.check(alembic_config(database_url))


def test_downgrade_and_upgrade_again(database_url: str) -> None:
    config = alembic_config(database_url)
    command.downgrade(config, "base")
    assert current_revision(database_url) is None
    upgrade(database_url)
    assert current_revision(database_url) == head_revision()
