"""`causerie org create|list`, `admin create --org|--platform`, `cafe create --org`, as an
operator scripts them (issue 12), in a real subprocess on a real database."""

from __future__ import annotations

import asyncio
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine
from test_cli import SOON, data_dir, run

__all__ = ["data_dir"]  # the fixture, shared with test_cli


def _rows(data: Path, sql: str) -> list[tuple[object, ...]]:
    url = f"sqlite+aiosqlite:///{data.resolve()}/causerie.db"

    async def read() -> list[tuple[object, ...]]:
        engine = create_async_engine(url)
        try:
            async with engine.connect() as conn:
                return [tuple(r) for r in await conn.execute(sa.text(sql))]
        finally:
            await engine.dispose()

    return asyncio.run(read())


def test_org_create_prints_the_slug_and_list_shows_it(data_dir: Path) -> None:
    made = run(["org", "create", "--name", "Réseau des Pères", "--website",
                "https://peres.example.org"], data_dir)
    assert made.returncode == 0, made.stderr
    assert made.stdout.strip() == "reseau-des-peres"
    chosen = run(["org", "create", "--name", "e-Enfance", "--slug", "e-enfance"], data_dir)
    assert chosen.stdout.strip() == "e-enfance", chosen.stderr
    listed = run(["org", "list"], data_dir)
    assert listed.returncode == 0, listed.stderr
    slugs = [line.split("\t")[0] for line in listed.stdout.strip().splitlines()]
    assert set(slugs) == {"causerie", "reseau-des-peres", "e-enfance"}
    assert "https://peres.example.org" in listed.stdout


def test_org_create_refuses_duplicate_and_bad_slugs(data_dir: Path) -> None:
    """(Every bound of the form: tests/unit/test_associations.py.)"""
    assert run(["org", "create", "--name", "Une", "--slug", "une"], data_dir).returncode == 0
    again = run(["org", "create", "--name", "Autre", "--slug", "une"], data_dir)
    assert again.returncode == 1 and "slug" in again.stderr
    bad = run(["org", "create", "--name", "Autre", "--slug", "a" * 61], data_dir)
    assert bad.returncode == 1 and "slug" in bad.stderr, bad.stderr


def test_admin_create_with_org_or_platform(data_dir: Path) -> None:
    slug = run(["org", "create", "--name", "UNAF"], data_dir).stdout.strip()
    organiser = run(["admin", "create", "--email", "o@unaf.example", "--name", "Odile",
                     "--org", slug, "--password-stdin"], data_dir, stdin="un mot de passe long\n")
    assert organiser.returncode == 0, organiser.stderr
    platform = run(["admin", "create", "--email", "root@example.org", "--name", "Hôte",
                    "--platform", "--password-stdin"], data_dir, stdin="un mot de passe long\n")
    assert platform.returncode == 0 and "platform administrator" in platform.stdout
    assert _rows(data_dir, "SELECT o.email, a.slug, o.platform_admin FROM organisers o "
                           "LEFT JOIN associations a ON a.id = o.association_id "
                           "ORDER BY o.id") == [
        ("o@unaf.example", slug, 0), ("root@example.org", None, 1)]


def test_cafe_create_with_org(data_dir: Path) -> None:
    slug = run(["org", "create", "--name", "UNAF"], data_dir).stdout.strip()
    cafe = run(["cafe", "create", "--title", "Écrans", "--starts-at", f"{SOON}T20:00",
                "--theme", "screens", "--org", slug], data_dir)
    assert cafe.returncode == 0, cafe.stderr
    plain = run(["cafe", "create", "--title", "Jeux", "--starts-at", f"{SOON}T20:00",
                 "--theme", "video-games"], data_dir)
    assert plain.returncode == 0, plain.stderr
    unknown = run(["cafe", "create", "--title", "Jeux", "--starts-at", f"{SOON}T20:00",
                   "--theme", "video-games", "--org", "nope"], data_dir)
    assert unknown.returncode == 1 and "association" in unknown.stderr
    assert _rows(data_dir, "SELECT c.title, a.slug FROM cafes c JOIN associations a "
                           "ON a.id = c.association_id ORDER BY c.id") == [
        ("Écrans", slug), ("Jeux", "causerie")]


def test_first_association_takes_the_configured_name(tmp_path: Path) -> None:
    data = tmp_path / "var"
    env = {"CAUSERIE_FIRST_ASSOCIATION": "Fédération des parents"}
    assert run(["db", "upgrade"], data, env=env).returncode == 0
    listed = run(["org", "list"], data, env=env)
    assert listed.stdout.startswith("federation-des-parents\tFédération des parents"), listed
