"""Helpers of the review tests: an ended café with a real Ogg/Opus part (a tone, so its level
can be measured), transcribed segments with word timings, its invitations, and clients
logged in as each kind of reviewer (or refused one)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa
from aiohttp import web
from aiohttp.test_utils import TestClient

from server.keys import CAFES, DATABASE
from sessions.cafe import validate_draft
from sessions.clock import FixedClock
from sessions.roles import Role
from sessions.storage.tables import cafes, segments
from transcripts.engine import SAMPLE_RATE, Segment
from transcripts.recorder import OggOpusWriter
from transcripts.repository import TranscriptRepository

Client = TestClient[web.Request, web.Application]
TONE_SECONDS = 12.0
# (start, end, text): one word a 0.5 s step, so each word's moment is known.
SEGMENTS = (
    (1.0, 4.0, "Bonsoir, je suis Lucas Martin et voici le harcelement"),
    (5.0, 8.0, "les jeux video en ligne permettent de discuter"),
    (9.0, 11.0, "gardez le telephone hors de la chambre"),
)


@dataclass(frozen=True)
class ReviewCafe:
    slug: str
    cafe_id: int
    expert: str
    moderator: str
    part: Path


def timed_words(start: float, end: float, text: str) -> tuple[tuple[float, float, str, float], ...]:
    tokens = text.split()
    step = (end - start) / len(tokens)
    return tuple((round(start + i * step, 3), round(start + (i + 1) * step, 3), " " + t, 0.9)
                 for i, t in enumerate(tokens))


def write_tone(path: Path, seconds: float = TONE_SECONDS, amp: float = 0.3) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    writer = OggOpusWriter(path)
    writer.write((np.sin(2 * np.pi * 440 * t) * amp * 32767).astype(np.int16))
    writer.close()
    return path


async def ended_cafe(app: web.Application, clock: FixedClock, folder: Path,
                     title: str = "Harcèlement en ligne") -> ReviewCafe:
    service = app[CAFES]
    draft = validate_draft(title=title, description="Parlons-en.", theme="cyber-harassment",
                           language="fr", starts_at=clock.now() + timedelta(days=1),
                           duration_minutes=60, now=clock.now(), is_new=True)
    cafe = await service.create_cafe(draft, None)
    expert = await service.invite(cafe.id, Role.EXPERT)
    moderator = await service.invite(cafe.id, Role.MODERATOR)
    db = app[DATABASE]
    async with db.transaction() as conn:
        await conn.execute(sa.update(cafes).where(cafes.c.id == cafe.id).values(
            status="ended", opened_at=clock.now(), ended_at=clock.now() + timedelta(minutes=30)))
    part = write_tone(folder / f"{cafe.slug}-expert-000000000.ogg")
    repo = TranscriptRepository(db, clock.now)
    recording_id = await repo.create_recording(cafe.id, None, "Dr Martin", str(part), 0.0)
    await repo.close_recording(recording_id, TONE_SECONDS)
    await repo.ensure_job(cafe.id, recording_id)
    await repo.complete_job(await repo.recording(recording_id), [
        Segment(a, b, "Dr Martin", text, timed_words(a, b, text)) for a, b, text in SEGMENTS])
    return ReviewCafe(cafe.slug, cafe.id, expert.token, moderator.token, part)


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf-token" content="([^"]+)"', html) or re.search(
        r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF token in the page"
    return found.group(1)


async def open_review(client: Client, slug: str, invite: str | None = None) -> tuple[int, str]:
    """Open the review page (with an invitation link, or as whoever is logged in): the
    status and the CSRF token of this client's session ("" when refused)."""
    path = f"/cafes/{slug}/review" + (f"?invite={invite}" if invite else "")
    response = await client.get(path, allow_redirects=False)
    html = await response.text()
    return response.status, csrf_of(html) if response.status == 200 else ""


async def act(client: Client, slug: str, path: str, body: dict[str, Any], token: str
              ) -> tuple[int, Any]:
    response = await client.post(f"/api/cafes/{slug}/review{path}", json=body,
                                 headers={"X-CSRF-Token": token})
    return response.status, await response.json()


async def segment_rows(app: web.Application, cafe_id: int) -> list[dict[str, Any]]:
    """The café's segments as stored, in page order."""
    async with app[DATABASE].connect() as conn:
        rows = await conn.execute(sa.select(segments).where(segments.c.cafe_id == cafe_id)
                                  .order_by(segments.c.start_seconds, segments.c.id))
        return [{"id": r.id, "version": r.version, "start": r.start_seconds,
                 "end": r.end_seconds, "speaker": r.speaker, "text": r.text,
                 "words": r.words} for r in rows]
