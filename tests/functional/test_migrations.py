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


def test_associations_migration_carries_an_existing_database(database_url: str) -> None:
    """A database made by the previous head (0011) with organisers and cafés in it: after
    the upgrade they all belong to the first association, named by the setting."""
    import asyncio
    from datetime import UTC, datetime

    import sqlalchemy as sa
    from sqlalchemy.ext.asyncio import create_async_engine

    command.downgrade(alembic_config(database_url), "0011")
    now = datetime(2026, 11, 30, 20, 0, tzinfo=UTC)

    Rows = list[list[tuple[object, ...]]]

    async def run(statements: list[tuple[str, dict[str, object]]]) -> Rows:
        engine = create_async_engine(database_url)
        out: Rows = []
        try:
            async with engine.begin() as conn:
                for sql, params in statements:
                    result = await conn.execute(sa.text(sql), params)
                    out.append([tuple(r) for r in result] if result.returns_rows else [])
        finally:
            await engine.dispose()
        return out

    cafe = ("INSERT INTO cafes (slug, title, description, theme, language, starts_at, "
            "duration_minutes, status, transcript_published, glossary, created_by, created_at)"
            " VALUES (:slug, :title, '', 'screens', 'fr', :now, 60, :status, false, '', 1, :now)")
    asyncio.run(run([
        ("INSERT INTO organisers (id, email, display_name, password_hash, created_at) "
         "VALUES (1, 'claire@example.org', 'Claire', 'x', :now)", {"now": now}),
        ("INSERT INTO organisers (id, email, display_name, password_hash, created_at) "
         "VALUES (2, 'paul@example.org', 'Paul', 'x', :now)", {"now": now}),
        (cafe, {"slug": "les-ecrans", "title": "Les écrans", "now": now, "status": "ended"}),
        (cafe, {"slug": "jeux-video", "title": "Jeux vidéo", "now": now, "status": "scheduled"}),
        ("INSERT INTO invitations (cafe_id, role, nonce, expires_at, created_at) "
         "SELECT id, 'expert', 'n-' || slug, :now, :now FROM cafes", {"now": now}),
    ]))
    upgrade(database_url, first_association="Réseau des parents")
    assert current_revision(database_url) == head_revision()
    associations, cafes, organisers, invitations = asyncio.run(run([
        ("SELECT id, slug, name FROM associations", {}),
        ("SELECT slug, association_id, status FROM cafes ORDER BY slug", {}),
        ("SELECT email, association_id, platform_admin FROM organisers ORDER BY id", {}),
        ("SELECT count(*) FROM invitations", {}),
    ]))
    assert len(associations) == 1
    first_id, slug, name = associations[0]
    assert (slug, name) == ("reseau-des-parents", "Réseau des parents")
    assert cafes == [("jeux-video", first_id, "scheduled"), ("les-ecrans", first_id, "ended")]
    assert [(e, a, bool(p)) for e, a, p in organisers] == [
        ("claire@example.org", first_id, False), ("paul@example.org", first_id, False)]
    assert invitations == [(2,)]
    command.check(alembic_config(database_url))


def test_attendance_peak_migration_keeps_cafes_unrecorded(database_url: str) -> None:
    """A database at 0012 with an ended café: after the upgrade its peak is NULL (not
    recorded, shown as a dash), not a made-up zero; down again drops the column only."""
    import asyncio
    from datetime import UTC, datetime

    import sqlalchemy as sa
    from sqlalchemy.ext.asyncio import create_async_engine

    async def run(sql: str, **params: object) -> list[tuple[object, ...]]:
        engine = create_async_engine(database_url)
        try:
            async with engine.begin() as conn:
                result = await conn.execute(sa.text(sql), params)
                return [tuple(r) for r in result] if result.returns_rows else []
        finally:
            await engine.dispose()

    config = alembic_config(database_url)
    command.downgrade(config, "0012")
    now = datetime(2026, 11, 30, 20, 0, tzinfo=UTC)
    asyncio.run(run("INSERT INTO associations (slug, name, created_at) "
                    "VALUES ('parents-0012', 'Parents', :now)", now=now))
    asyncio.run(run(
        "INSERT INTO cafes (slug, title, description, theme, language, starts_at, "
        "duration_minutes, status, transcript_published, glossary, created_at, association_id)"
        " SELECT 'les-ecrans', 'Les écrans', '', 'screens', 'fr', :now, 60, 'ended', false, '',"
        " :now, id FROM associations WHERE slug = 'parents-0012'", now=now))
    upgrade(database_url)
    assert asyncio.run(run("SELECT slug, peak_parents FROM cafes")) == [("les-ecrans", None)]
    command.downgrade(config, "0012")
    assert asyncio.run(run("SELECT slug FROM cafes")) == [("les-ecrans",)]
    upgrade(database_url)
