"""Helpers of the search, export and transcript-page tests: a fresh database per test on
SQLite or PostgreSQL (a database of its own per test run), and a seeded corpus."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from sessions.storage.database import Database
from sessions.storage.repo_associations import first_association_id
from sessions.storage.tables import cafes, recordings, segments
from transcripts import search

SHARED_CONFTEST = str(Path(__file__).resolve().parent.parent / "conftest.py")
BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]


async def fresh_database(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """The URL of an empty, migrated database (tables and search index): the shared
    fixtures of tests/conftest.py (a copy of the migrated SQLite file; the session's
    PostgreSQL database, emptied), which fail in CI when PostgreSQL is missing."""
    if backend == "sqlite":
        return str(request.getfixturevalue("sqlite_url"))
    shared = request.config.pluginmanager.get_plugin(SHARED_CONFTEST)
    assert shared is not None, "tests/conftest.py is not loaded"
    return str(shared.empty_postgres(request))


async def open_database(backend: str, tmp_path: Path,
                        request: pytest.FixtureRequest) -> AsyncIterator[Database]:
    db = search.open_database(await fresh_database(backend, tmp_path, request))
    try:
        yield db
    finally:
        await db.close()


@dataclass(frozen=True)
class Seg:
    start: float
    end: float
    speaker: str
    text: str


def words_of(seg: Seg) -> list[dict[str, Any]]:
    parts = seg.text.split()
    step = (seg.end - seg.start) / max(1, len(parts))
    return [
        {"start": round(seg.start + i * step, 3), "end": round(seg.start + (i + 1) * step, 3),
         "word": w, "probability": 0.9}
        for i, w in enumerate(parts)
    ]


async def add_cafe(
    db: Database, slug: str, *, title: str = "", theme: str = "cyber-harassment",
    published: bool = True, starts_at: datetime | None = None,
    segs: Sequence[Seg] = (), recording_path: str | None = None,
) -> int:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    async with db.transaction() as conn:
        cafe_id = int(await conn.scalar(cafes.insert().values(
            association_id=await first_association_id(conn),
            slug=slug, title=title or slug.replace("-", " ").capitalize(), theme=theme,
            starts_at=starts_at or datetime(2026, 3, 10, 18, 0, tzinfo=UTC),
            duration_minutes=60, status="ended", transcript_published=published,
            created_at=now,
        ).returning(cafes.c.id)))
        recording_id = int(await conn.scalar(recordings.insert().values(
            cafe_id=cafe_id, speaker="Expert", path=recording_path or "/nonexistent.ogg",
            offset_seconds=0.0, duration_seconds=max((s.end for s in segs), default=0.0),
            status="transcribed", created_at=now,
        ).returning(recordings.c.id)))
        if segs:
            await conn.execute(segments.insert(), [
                {"cafe_id": cafe_id, "recording_id": recording_id, "start_seconds": s.start,
                 "end_seconds": s.end, "speaker": s.speaker, "text": s.text,
                 "words": words_of(s), "seq": i}
                for i, s in enumerate(segs)
            ])
    return cafe_id


async def set_published(db: Database, slug: str, published: bool) -> None:
    async with db.transaction() as conn:
        await conn.execute(
            cafes.update().where(cafes.c.slug == slug).values(transcript_published=published)
        )


async def delete_cafe(db: Database, slug: str) -> None:
    async with db.transaction() as conn:
        await conn.execute(sa.delete(cafes).where(cafes.c.slug == slug))


CORPUS: dict[str, list[Seg]] = {
    "harcelement-ecole": [
        Seg(0.0, 4.5, "Expert", "Bonjour à tous, ce soir on parle du harcèlement à l'école."),
        Seg(4.5, 9.0, "Expert",
            "Le cyber-harcèlement continue à la maison, sur le téléphone de l'enfant."),
        Seg(9.0, 14.0, "Parent", "Comment savoir si mon fils est harcelé sur les réseaux ?"),
        Seg(14.0, 20.0, "Expert",
            "Il faut écouter l'enfant, garder les captures d'écran et prévenir l'école."),
    ],
    "ecrans-famille": [
        Seg(0.0, 5.0, "Experte", "Les écrans en famille : fixer des règles ensemble."),
        Seg(5.0, 11.0, "Experte",
            "Pas de téléphone à table, et un temps d'écran adapté à l'âge."),
        Seg(11.0, 16.0, "Parent", "Et les jeux vidéo en ligne le soir, avant de dormir ?"),
    ],
}


def build_app(url: str, data_dir: Path) -> Any:
    """The real app (server.app.create_app) on ``url``."""
    from server.app import create_app
    from server.config import load_config

    config = load_config(data_dir=data_dir, database_url=url, secret_key="s" * 48)
    return create_app(config)
