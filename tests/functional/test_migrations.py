"""Migrations: the schema they build matches the tables the code uses, on SQLite and
PostgreSQL, and they go down and up again."""

from __future__ import annotations

from alembic import command

from server.migrate import alembic_config, current_revision, head_revision, upgrade

Rows = list[list[tuple[object, ...]]]


async def run_sql(database_url: str, statements: list[tuple[str, dict[str, object]]]) -> Rows:
    """Run raw SQL in one transaction (the schema of an older head, without the models);
    the rows of each statement."""
    import sqlalchemy as sa
    from sqlalchemy.ext.asyncio import create_async_engine

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


    command.downgrade(alembic_config(database_url), "0011")
    now = datetime(2026, 11, 30, 20, 0, tzinfo=UTC)

    async def run(statements: list[tuple[str, dict[str, object]]]) -> Rows:
        return await run_sql(database_url, statements)

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


def test_search_scope_migration_carries_an_existing_database(database_url: str) -> None:
    """A database at the previous head (0013) with published transcripts in it: 0014 puts
    the cafés' filters in PostgreSQL's index (every existing segment gets its scope, the
    bucket indexes are built again over text and scope); filtered searches answer as before
    on both databases. Downgrading puts back 0013's indexes."""
    import asyncio
    from datetime import UTC, datetime

    import sqlalchemy as sa
    from search_support import Seg, add_cafe

    from transcripts.search import SearchFilters, open_database, search

    command.downgrade(alembic_config(database_url), "0013")
    postgres = database_url.startswith("postgresql")

    async def catalogue() -> tuple[set[str], bool]:
        if not postgres:
            return set(), False
        db = open_database(database_url)
        try:
            async with db.connect() as conn:
                names = {str(n) for n in await conn.scalars(sa.text(
                    "SELECT indexname FROM pg_indexes WHERE tablename = 'segments'"
                    " AND indexname LIKE 'ix_segments_search_vector%'"))}
                scope = bool(await conn.scalar(sa.text(
                    "SELECT 1 FROM information_schema.columns WHERE table_name = 'segments'"
                    " AND column_name = 'search_scope'")))
        finally:
            await db.close()
        return names, scope

    async def before() -> None:
        db = open_database(database_url)
        try:
            await add_cafe(db, "ecrans-soir", theme="screens", segs=[
                Seg(0, 5, "Experte", "Le téléphone reste hors de la chambre le soir."),
                Seg(5, 10, "Parent", "Et la tablette ? Le téléphone du grand frère ?")])
            await add_cafe(db, "harcelement", starts_at=datetime(2026, 3, 1, tzinfo=UTC),
                           segs=[Seg(0, 5, "Expert", "Le téléphone sert aussi au harcèlement.")])
            await add_cafe(db, "brouillon", theme="screens", published=False, segs=[
                Seg(0, 5, "Expert", "Un téléphone dans un café non publié.")])
        finally:
            await db.close()

    async def after() -> dict[str, list[tuple[str, float]]]:
        db = open_database(database_url)
        out: dict[str, list[tuple[str, float]]] = {}
        try:
            for name, filters in (("all", SearchFilters()),
                                  ("screens", SearchFilters(theme="screens")),
                                  ("cafe", SearchFilters(cafe="harcelement")),
                                  ("both", SearchFilters(theme="screens", cafe="harcelement"))):
                result = await search(db, "téléphone", filters=filters)
                out[name] = sorted((h.cafe_slug, h.start) for h in result.hits)
            if postgres:
                async with db.connect() as conn:
                    assert await conn.scalar(sa.text(
                        "SELECT count(*) FROM segments WHERE search_scope IS NULL")) == 0
        finally:
            await db.close()
        return out

    names, scope = asyncio.run(catalogue())
    if postgres:
        assert not scope and len(names) == 16 and all("_b" in n for n in names)
    asyncio.run(before())
    upgrade(database_url)
    assert current_revision(database_url) == head_revision()
    names, scope = asyncio.run(catalogue())
    if postgres:
        assert scope and len(names) == 16 and all("_s" in n for n in names)
    assert asyncio.run(after()) == {
        "all": [("ecrans-soir", 0.0), ("ecrans-soir", 5.0), ("harcelement", 0.0)],
        "screens": [("ecrans-soir", 0.0), ("ecrans-soir", 5.0)],
        "cafe": [("harcelement", 0.0)],
        "both": [],
    }
    command.downgrade(alembic_config(database_url), "0013")
    names, scope = asyncio.run(catalogue())
    if postgres:
        assert not scope and len(names) == 16 and all("_b" in n for n in names)
    upgrade(database_url)
    command.check(alembic_config(database_url))


def test_search_themes_migration_carries_an_existing_database(database_url: str) -> None:
    """A database at the previous head (0014) with published transcripts: 0015 builds
    SQLite's index again, with longer prefixes and the cafés' themes in it (every segment,
    also one whose café changes theme afterwards); theme-filtered searches answer as
    before, on both databases. Downgrading builds 0003's index again."""
    import asyncio

    import sqlalchemy as sa
    from search_support import Seg, add_cafe

    from sessions.storage.tables import cafes
    from transcripts.search import SearchFilters, open_database, search

    command.downgrade(alembic_config(database_url), "0014")
    sqlite = database_url.startswith("sqlite")

    async def columns() -> set[str]:
        if not sqlite:
            return set()
        db = open_database(database_url)
        try:
            async with db.connect() as conn:
                return {str(n) for n in await conn.scalars(sa.text(
                    "SELECT name FROM sqlite_master WHERE sql LIKE 'CREATE VIRTUAL TABLE%'"))}
        finally:
            await db.close()

    async def before() -> None:
        db = open_database(database_url)
        try:
            await add_cafe(db, "ecrans", theme="screens", segs=[
                Seg(0, 5, "Experte", "Le sommeil des enfants et les écrans du soir."),
                Seg(5, 10, "Parent", "Le sommeil, encore le sommeil !")])
            await add_cafe(db, "rumeurs", theme="fake-news", segs=[
                Seg(0, 5, "Expert", "Une rumeur trouble le sommeil des élèves.")])
        finally:
            await db.close()

    async def after() -> dict[str, list[tuple[str, float]]]:
        db = open_database(database_url)
        out: dict[str, list[tuple[str, float]]] = {}
        try:
            for theme in ("screens", "fake-news", "cyber-harassment"):
                result = await search(db, "sommeil", filters=SearchFilters(theme=theme))
                out[theme] = [(h.cafe_slug, h.start) for h in result.hits]
            async with db.transaction() as conn:
                await conn.execute(cafes.update().where(cafes.c.slug == "rumeurs")
                                   .values(theme="screens"))
            result = await search(db, "sommeil*", filters=SearchFilters(theme="screens"))
            out["moved"] = sorted((h.cafe_slug, h.start) for h in result.hits)
        finally:
            await db.close()
        return out

    if sqlite:
        assert asyncio.run(columns()) == {"segments_fts"}
    asyncio.run(before())
    upgrade(database_url)
    assert current_revision(database_url) == head_revision()
    if sqlite:
        assert asyncio.run(columns()) == {"segments_fts", "segments_fts_themed"}
    assert asyncio.run(after()) == {
        # More matches first (bm25), as before the migration.
        "screens": [("ecrans", 5.0), ("ecrans", 0.0)],
        "fake-news": [("rumeurs", 0.0)],
        "cyber-harassment": [],
        "moved": [("ecrans", 0.0), ("ecrans", 5.0), ("rumeurs", 0.0)],
    }
    command.downgrade(alembic_config(database_url), "0014")
    if sqlite:
        assert asyncio.run(columns()) == {"segments_fts"}
    upgrade(database_url)
    command.check(alembic_config(database_url))


def test_watch_lists_migration_merges_organiser_lists_into_their_association(
        database_url: str) -> None:
    """(Issue 11, point 3.) A database at the previous head (0015) where organisers had
    default lists: after the upgrade each association has one list, its organisers' lists
    merged with no term lost (a term in two lists once, with the stronger action; the
    shipped list joins when one of them had never edited theirs); cafés' own lists stay;
    an association whose organisers never edited one gets no row. Down again: each
    organiser gets their association's list."""
    import asyncio
    from datetime import UTC, datetime

    from sessions.watchwords import Matcher, WatchAction, parse_list
    from sessions.watchwords_fr import DEFAULT_LIST_FR

    command.downgrade(alembic_config(database_url), "0015")
    now = datetime(2026, 12, 1, 20, 0, tzinfo=UTC)
    async def run(statements: list[tuple[str, dict[str, object]]]) -> Rows:
        return await run_sql(database_url, statements)

    association = ("INSERT INTO associations (id, slug, name, created_at) "
                   "VALUES (:id, :slug, :slug, :now)")
    organiser = ("INSERT INTO organisers (id, email, display_name, password_hash, created_at, "
                 "association_id, platform_admin) VALUES (:id, :email, 'O', 'x', :now, :a, "
                 "false)")
    listed = ("INSERT INTO watch_lists (organiser_id, cafe_id, body, updated_at) "
              "VALUES (:o, :c, :body, :now)")
    asyncio.run(run([
        ("DELETE FROM associations", {}),
        (association, {"id": 1, "slug": "parents", "now": now}),
        (association, {"id": 2, "slug": "pères", "now": now}),
        (association, {"id": 3, "slug": "jamais", "now": now}),
        (organiser, {"id": 1, "email": "a@x.org", "now": now, "a": 1}),
        (organiser, {"id": 2, "email": "b@x.org", "now": now, "a": 1}),
        (organiser, {"id": 3, "email": "c@x.org", "now": now, "a": 2}),
        (organiser, {"id": 4, "email": "d@x.org", "now": now, "a": 2}),
        (organiser, {"id": 5, "email": "e@x.org", "now": now, "a": 3}),
        ("INSERT INTO cafes (id, association_id, slug, title, description, theme, language, "
         "starts_at, duration_minutes, status, transcript_published, glossary, created_by, "
         "created_at) VALUES (7, 1, 'c', 'C', '', 'screens', 'fr', :now, 60, 'scheduled', "
         "false, '', 1, :now)", {"now": now}),
        # association 1: two edited lists, overlapping, with different actions
        (listed, {"o": 1, "c": None, "now": now,
                  "body": "# Claire\nidiot | flag\n@telephone | hold\nÉcrans | flag\n"}),
        (listed, {"o": 2, "c": None, "now": now,
                  "body": "IDIOT | bloquer\ncrétin\nécrans | flag\n# Paul\n"}),
        # association 2: one edited list, one organiser on the shipped list
        (listed, {"o": 3, "c": None, "now": now, "body": "nounours | flag\npute | flag\n"}),
        (listed, {"o": None, "c": 7, "now": now, "body": "lucas | hold\n"}),
    ]))
    upgrade(database_url)
    assert current_revision(database_url) == head_revision()
    (rows,) = asyncio.run(run([
        ("SELECT association_id, cafe_id, body FROM watch_lists ORDER BY id", {})]))
    by_association = {a: str(body) for a, c, body in rows if a is not None}
    assert set(by_association) == {1, 2}  # association 3 keeps the shipped list (no row)
    assert [(c, body) for a, c, body in rows if a is None] == [(7, "lucas | hold\n")]

    first = {t.term: t.action for t in parse_list(by_association[1])}
    assert first == {"idiot": WatchAction.BLOCK, "@telephone": WatchAction.HOLD,
                     "Écrans": WatchAction.FLAG, "crétin": WatchAction.HOLD}
    assert "# Claire" in by_association[1] and "# Paul" in by_association[1]
    second = Matcher(parse_list(by_association[2]))
    assert second.verdict("gros nounours").action is WatchAction.FLAG
    assert second.verdict("pute").action is WatchAction.HOLD  # the shipped list's, stronger
    for term in parse_list(DEFAULT_LIST_FR):  # every shipped term is still there
        assert second.verdict(term.term if term.pattern is None else "06 12 34 56 78").action
    command.check(alembic_config(database_url))

    command.downgrade(alembic_config(database_url), "0015")
    (rows,) = asyncio.run(run([
        ("SELECT organiser_id, body FROM watch_lists WHERE organiser_id IS NOT NULL "
         "ORDER BY organiser_id", {})]))
    assert [o for o, _ in rows] == [1, 2, 3, 4]
    assert rows[0][1] == rows[1][1] == by_association[1]
    upgrade(database_url)
