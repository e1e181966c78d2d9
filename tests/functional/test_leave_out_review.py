"""A parent's request to be left out of the published transcript (issue 11): the organiser
reads it in the review page and redacts every segment that parent spoke in one step (text
and audio, through the review's redaction), on SQLite and PostgreSQL."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from aiohttp import web
from review_support import (
    Client,
    ReviewCafe,
    act,
    csrf_of,
    ended_cafe,
    open_review,
    segment_rows,
    timed_words,
    write_tone,
)

from server.app import create_app
from server.auth import create_organiser
from server.config import load_config
from server.keys import CAFES, DATABASE
from sessions.clock import FixedClock
from sessions.storage.repo_help import LeaveOutRepository
from sessions.storage.tables import audit_log, redactions, stage_leave_outs
from transcripts.engine import Segment
from transcripts.repository import TranscriptRepository
from transcripts.review import REDACTED

MakeClient = Callable[[web.Application], Awaitable[Client]]
PASSWORD = "correct horse battery"
MARIE = ((2.0, 3.5, "mon fils Kevin au college Jean Moulin"), (6.0, 7.5, "il a eu peur"))
PAUL = ((4.0, 5.5, "chez nous aussi"),)


@pytest.fixture
def review_app(tmp_path: Path, database_url: str, clock: FixedClock) -> web.Application:
    config = load_config(data_dir=tmp_path / "var", database_url=database_url,
                         secret_key="review-secret-key-0123456789-abcdefghij")
    return create_app(config, clock=clock)


async def _parent_on_stage(app: web.Application, clock: FixedClock, cafe: ReviewCafe,
                           folder: Path, pseudonym: str,
                           said: tuple[tuple[float, float, str], ...]) -> int:
    async with app[DATABASE].transaction() as conn:
        pid = await app[CAFES].repo.insert_participant(
            conn, cafe_id=cafe.cafe_id, pseudonym=pseudonym, role="participant",
            browser_key=secrets.token_hex(16), invitation_id=None, now=clock.now())
    assert pid is not None
    repo = TranscriptRepository(app[DATABASE], clock.now)
    part = write_tone(folder / f"{cafe.slug}-{pid}-000000000.ogg", seconds=9.0)
    recording_id = await repo.create_recording(cafe.cafe_id, pid, pseudonym, str(part), 0.0)
    await repo.close_recording(recording_id, 9.0)
    await repo.ensure_job(cafe.cafe_id, recording_id)
    await repo.complete_job(await repo.recording(recording_id), [
        Segment(a, b, pseudonym, text, timed_words(a, b, text)) for a, b, text in said])
    return pid


async def test_organiser_redacts_a_parents_segments_in_one_step(
        review_app: web.Application, aiohttp_client: MakeClient, tmp_path: Path,
        clock: FixedClock) -> None:
    app = review_app
    client = await aiohttp_client(app)
    folder = tmp_path / "var" / "recordings" / "parts"
    cafe = await ended_cafe(app, clock, folder)
    marie = await _parent_on_stage(app, clock, cafe, folder, "Marie", MARIE)
    paul = await _parent_on_stage(app, clock, cafe, folder, "Paul", PAUL)
    async with app[DATABASE].transaction() as conn:
        await LeaveOutRepository().request(conn, cafe.cafe_id, marie, clock.now())
        await LeaveOutRepository().request(conn, cafe.cafe_id, marie, clock.now())  # again

    await create_organiser(app[CAFES], "orga@example.org", "Orga", PASSWORD)
    token = csrf_of(await (await client.get("/login")).text())
    await client.post("/login", data={"email": "orga@example.org", "password": PASSWORD,
                                      "csrf_token": token, "next": "/admin"})
    status, token = await open_review(client, cafe.slug)
    assert status == 200
    html = await (await client.get(f"/cafes/{cafe.slug}/review")).text()
    requests = html.split('id="leave-outs"')[1].split("</section>")[0]
    assert "Marie" in requests and "Paul" not in requests
    assert f'data-participant="{marie}"' in requests and "Retirer tous ses segments" in requests

    refused = await client.post(f"/api/cafes/{cafe.slug}/review/participants/{marie}/redact",
                                json={}, headers={"X-CSRF-Token": "stale"})
    assert refused.status == 403
    status, answer = await act(client, cafe.slug, f"/participants/{marie}/redact", {"x": 1},
                               token)
    assert status == 400  # no field is expected

    status, answer = await act(client, cafe.slug, f"/participants/{marie}/redact", {}, token)
    assert status == 200, answer
    assert [s["text"] for s in answer["segments"]] == [REDACTED, REDACTED]
    rows = await segment_rows(app, cafe.cafe_id)
    by_speaker = {(r["speaker"], r["text"]) for r in rows}
    assert ("Marie", REDACTED) in by_speaker
    assert not any("Kevin" in r["text"] for r in rows)
    assert ("Paul", "chez nous aussi") in by_speaker  # the other parent's words stay
    assert ("Dr Martin", "gardez le telephone hors de la chambre") in by_speaker
    async with app[DATABASE].connect() as conn:
        silenced = sorted((r.start_seconds, r.end_seconds) for r in await conn.execute(
            sa.select(redactions).where(redactions.c.cafe_id == cafe.cafe_id)))
        audited = (await conn.execute(sa.select(sa.func.count()).select_from(audit_log).where(
            audit_log.c.action == "transcript.redact"))).scalar_one()
        done = (await conn.execute(sa.select(stage_leave_outs.c.redacted_at))).scalar_one()
    assert silenced == [(2.0, 3.5), (6.0, 7.5)]
    assert audited == 2 and done is not None
    page = await (await client.get(f"/cafes/{cafe.slug}/review")).text()
    assert "Fait" in page.split('id="leave-outs"')[1].split("</section>")[0]

    # Again: nothing left to take out, nothing changes; another café's id changes nothing.
    status, answer = await act(client, cafe.slug, f"/participants/{marie}/redact", {}, token)
    assert status == 200 and answer["segments"] == []
    status, answer = await act(client, cafe.slug, "/participants/999999/redact", {}, token)
    assert status == 200 and answer["segments"] == []
    assert await segment_rows(app, cafe.cafe_id) == rows
    del paul


async def test_a_stranger_cannot_redact(review_app: web.Application,
                                        aiohttp_client: MakeClient, tmp_path: Path,
                                        clock: FixedClock) -> None:
    app = review_app
    client = await aiohttp_client(app)
    cafe = await ended_cafe(app, clock, tmp_path / "var" / "recordings" / "parts")
    status, _ = await open_review(client, cafe.slug, cafe.moderator)
    assert status == 403  # a moderator's link does not review
    response = await client.post(f"/api/cafes/{cafe.slug}/review/participants/1/redact",
                                 json={}, headers={"X-CSRF-Token": "x"})
    assert response.status == 403
