"""Retention and erasure against the real app, on SQLite and PostgreSQL: the scheduled run
deletes a café's raw recordings when its period is over (files, rows, jobs) and keeps the
published transcript and its replay; the organiser sets the period, deletes recordings now
and erases one participant's contributions from their pseudonym (their questions, votes,
chat, transcript segments, recorded part and voice in the replay; their name in the log);
every action is audited with counts, and logs name ids only. `causerie retention` does the
same from the shell."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa
from aiohttp import web
from review_support import Client, ReviewCafe, csrf_of, ended_cafe, timed_words, write_tone
from test_transcript_review import found, organiser_client

from server.app import create_app
from server.config import load_config
from server.keys import DATABASE
from server.views_retention import RETENTION
from server.views_review import REVIEW
from sessions.clock import FixedClock
from sessions.storage.tables import (
    audit_log,
    cafes,
    chat_messages,
    participants,
    questions,
    recordings,
    redactions,
    reports,
    segments,
    transcript_jobs,
    votes,
)
from transcripts.engine import SAMPLE_RATE, Segment, decode_audio
from transcripts.repository import TranscriptRepository
from transcripts.retention import ERASED, delete_after

MakeClient = Callable[[web.Application], Awaitable[Client]]
DAY = 24 * 3600.0
PARENT = "Marie Dupont"
PARENT_SAID = (13.0, 15.0, "ma fille Camille pleure chaque soir")  # on stage, café time
PARENT_CHAT = "Mon numéro est le 06 12 34 56 78"


@pytest.fixture
def app(tmp_path: Path, database_url: str, clock: FixedClock) -> web.Application:
    config = load_config(data_dir=tmp_path / "var", database_url=database_url,
                         secret_key="retention-secret-key-0123456789-abcdef",
                         retention={"enabled": False})
    return create_app(config, clock=clock)


async def one(app: web.Application, query: Any) -> Any:
    async with app[DATABASE].connect() as conn:
        return (await conn.execute(query)).all()


def new_id(result: Any) -> int:
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


async def with_parent(app: web.Application, clock: FixedClock, cafe: ReviewCafe,
                      folder: Path) -> tuple[int, Path]:
    """A parent in the café who asked a question, voted, chatted, spoke on stage (her own
    part and segment) and whose message a moderator hid (the log quotes it)."""
    now = clock.now()
    async with app[DATABASE].transaction() as conn:
        pid = new_id(await conn.execute(participants.insert().values(
            cafe_id=cafe.cafe_id, pseudonym=PARENT, role="participant", browser_key="k" * 32,
            joined_at=now)))
        other = new_id(await conn.execute(participants.insert().values(
            cafe_id=cafe.cafe_id, pseudonym="Paul", role="participant", browser_key="p" * 32,
            joined_at=now)))
        asked = new_id(await conn.execute(questions.insert().values(
            cafe_id=cafe.cafe_id, author_id=pid, text="Camille est harcelée, que faire ?",
            original_text="Camille est harcelée, que faire ?", status="approved",
            created_at=now, updated_at=now)))
        theirs = new_id(await conn.execute(questions.insert().values(
            cafe_id=cafe.cafe_id, author_id=other, text="Et les écrans le soir ?",
            original_text="Et les écrans le soir ?", status="approved", created_at=now,
            updated_at=now)))
        await conn.execute(votes.insert().values(question_id=theirs, participant_id=pid,
                                                 created_at=now))
        message = new_id(await conn.execute(chat_messages.insert().values(
            cafe_id=cafe.cafe_id, author_id=pid, text=PARENT_CHAT, hidden=True,
            created_at=now)))
        await conn.execute(audit_log.insert().values(
            cafe_id=cafe.cafe_id, actor="moderator:Sophie#9", action="chat.hide",
            target=f"chat:{message}", detail={"author_id": pid, "author": PARENT,
                                               "text": PARENT_CHAT, "role": "moderator"},
            created_at=now))
        # a report about her message (its text copied), and one she made (her note)
        await conn.execute(reports.insert(), [
            {"cafe_id": cafe.cafe_id, "reporter_id": other, "kind": "chat",
             "target_id": message, "target_participant_id": pid, "target_pseudonym": PARENT,
             "excerpt": PARENT_CHAT, "reason": "personal_data", "note": "", "status": "open",
             "created_at": now},
            {"cafe_id": cafe.cafe_id, "reporter_id": pid, "kind": "participant",
             "target_id": other, "target_participant_id": other, "target_pseudonym": "Paul",
             "excerpt": "", "reason": "other", "note": f"{PARENT} ici, Paul insiste",
             "status": "open", "created_at": now}])
        await conn.execute(audit_log.insert().values(
            cafe_id=cafe.cafe_id, actor="moderator:Sophie#9", action="question.approve",
            target=f"question:{asked}", detail={"author": PARENT, "role": "moderator"},
            created_at=now))
    part = write_tone(folder / f"{cafe.slug}-parent.ogg", seconds=3.0, amp=0.5)
    repo = TranscriptRepository(app[DATABASE], clock.now)
    recording = await repo.create_recording(cafe.cafe_id, pid, PARENT, str(part), 12.5)
    await repo.close_recording(recording, 3.0)
    await repo.ensure_job(cafe.cafe_id, recording)
    start, end, text = PARENT_SAID
    await repo.complete_job(await repo.recording(recording),
                            [Segment(start, end, PARENT, text, timed_words(start, end, text))])
    return pid, part


async def prepared(app: web.Application, clock: FixedClock, tmp_path: Path,
                   published: bool) -> tuple[ReviewCafe, int, Path]:
    folder = tmp_path / "var" / "recordings" / "parts"
    cafe = await ended_cafe(app, clock, folder)
    pid, parent_part = await with_parent(app, clock, cafe, folder)
    assert await app[REVIEW].rebuild_replay(cafe.cafe_id)
    async with app[DATABASE].transaction() as conn:
        await conn.execute(cafes.update().where(cafes.c.id == cafe.cafe_id).values(
            transcript_published=published))
    return cafe, pid, parent_part


async def replay_path(app: web.Application, cafe_id: int) -> Path | None:
    rows = await one(app, sa.select(recordings.c.path).where(
        recordings.c.cafe_id == cafe_id, recordings.c.status == "replay"))
    return Path(rows[0].path) if rows else None


def level(path: Path, start: float, end: float) -> float:
    audio = decode_audio(path)
    part = audio[int(start * SAMPLE_RATE):int(end * SAMPLE_RATE)].astype(np.float64)
    return float(np.sqrt(np.mean(part ** 2))) if len(part) else 0.0  # past the end: silent


async def test_scheduled_run_deletes_parts_when_due_and_keeps_the_published_replay(
        app: web.Application, aiohttp_client: MakeClient, clock: FixedClock, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    await aiohttp_client(app)  # runs the app's start-up (services, database)
    cafe, _, parent_part = await prepared(app, clock, tmp_path, published=True)
    service = app[RETENTION]
    clock.advance(29 * DAY)  # the café ended 30 min after `now`: not due yet
    report = await service.run()
    assert not report.parts and cafe.part.is_file() and parent_part.is_file()

    clock.advance(DAY + 3600)
    assert [d.cafe_id for d in (await service.run(dry_run=True)).parts] == [cafe.cafe_id]
    assert cafe.part.is_file()  # a dry run deletes nothing
    with caplog.at_level(logging.INFO):
        report = await service.run()
    assert [(d.cafe_id, d.files, d.rows) for d in report.parts] == [(cafe.cafe_id, 2, 2)]
    assert not cafe.part.exists() and not parent_part.exists()
    assert await one(app, sa.select(recordings.c.status).where(
        recordings.c.cafe_id == cafe.cafe_id)) == [("replay",)]
    assert await one(app, sa.select(transcript_jobs.c.id).where(
        transcript_jobs.c.cafe_id == cafe.cafe_id)) == []
    # The published transcript stays, searchable, and so does its replay.
    assert len(await one(app, sa.select(segments.c.id).where(
        segments.c.cafe_id == cafe.cafe_id))) == 4
    assert await found(app, "telephone", cafe.slug)
    replay = await replay_path(app, cafe.cafe_id)
    assert replay is not None and replay.is_file()
    entry = (await one(app, sa.select(audit_log.c.actor, audit_log.c.detail).where(
        audit_log.c.action == "recordings.delete")))[0]
    assert entry.actor == "retention" and entry.detail["parts"] == 2
    assert entry.detail["files"] == 2 and entry.detail["bytes"] > 0
    said = [r.getMessage() for r in caplog.records if r.name == "causerie.retention"]
    assert any(f"recordings deleted cafe={cafe.cafe_id}" in m for m in said), said
    assert not any(PARENT in m or "Martin" in m for m in said)
    # Idempotent: nothing left to do.
    assert not (await service.run()).parts


async def test_unpublished_replay_goes_with_the_parts(
        app: web.Application, aiohttp_client: MakeClient, clock: FixedClock,
        tmp_path: Path) -> None:
    await aiohttp_client(app)
    cafe, _, _ = await prepared(app, clock, tmp_path, published=False)
    replay = await replay_path(app, cafe.cafe_id)
    assert replay is not None and replay.is_file()
    clock.advance(31 * DAY)
    report = await app[RETENTION].run()
    assert [d.cafe_id for d in report.replays] == [cafe.cafe_id]
    assert not replay.exists() and await replay_path(app, cafe.cafe_id) is None


async def post(client: Client, slug: str, path: str, data: dict[str, str]) -> Any:
    token = csrf_of(await (await client.get(f"/admin/cafes/{slug}")).text())
    return await client.post(f"/admin/cafes/{slug}{path}", data={"csrf_token": token, **data},
                             allow_redirects=False)


async def test_organiser_sets_the_period_and_deletes_now(
        app: web.Application, aiohttp_client: MakeClient, clock: FixedClock,
        tmp_path: Path) -> None:
    client = await organiser_client(app, aiohttp_client)
    cafe, _, parent_part = await prepared(app, clock, tmp_path, published=True)
    page = await (await client.get(f"/admin/cafes/{cafe.slug}")).text()
    assert "Conservation et effacement" in page and 'value="30"' in page
    assert "2 fichiers d’enregistrement sont conservés" in page

    for bad in ("0", "3651", "abc", "", "7.5"):
        response = await post(client, cafe.slug, "/retention", {"days": bad})
        assert response.status == 400, bad
        assert "jours" in await response.text()
    response = await post(client, cafe.slug, "/retention", {"days": "7"})
    assert response.status == 303
    keeping = (await app[RETENTION].keeping(cafe.cafe_id))[0]
    assert keeping.retention_days == 7 and keeping.ended_at is not None
    assert delete_after(keeping) == keeping.ended_at + timedelta(days=7)

    response = await post(client, cafe.slug, "/recordings/delete", {})
    assert response.status == 400 and cafe.part.is_file()  # the box must be ticked
    response = await post(client, cafe.slug, "/recordings/delete", {"confirm": "1"})
    assert response.status == 303 and not cafe.part.exists() and not parent_part.exists()
    page = await (await client.get(f"/admin/cafes/{cafe.slug}?deleted=1")).text()
    assert "Les enregistrements de ce café ont été supprimés." in page
    assert "Aucun fichier d’enregistrement n’est conservé" in page
    log = await (await client.get(f"/admin/cafes/{cafe.slug}")).text()
    assert "a supprimé les enregistrements du café (2 parties)" in log
    assert "a fixé la conservation des enregistrements à 7 jours" in log


async def test_a_live_cafe_keeps_its_recordings_and_participants(
        app: web.Application, aiohttp_client: MakeClient, clock: FixedClock,
        tmp_path: Path) -> None:
    client = await organiser_client(app, aiohttp_client)
    cafe, _, _ = await prepared(app, clock, tmp_path, published=False)
    async with app[DATABASE].transaction() as conn:
        await conn.execute(cafes.update().where(cafes.c.id == cafe.cafe_id).values(
            status="live"))
    for path, data in (("/recordings/delete", {"confirm": "1"}),
                       ("/erase", {"pseudonym": PARENT, "confirm": "1"})):
        response = await post(client, cafe.slug, path, data)
        assert response.status == 409, path
        assert "une fois le café terminé" in await response.text()
    assert cafe.part.is_file()
    assert len(await one(app, sa.select(questions.c.id))) == 2


async def test_erasing_a_participant_takes_out_everything_they_left(
        app: web.Application, aiohttp_client: MakeClient, clock: FixedClock,
        tmp_path: Path) -> None:
    client = await organiser_client(app, aiohttp_client)
    cafe, pid, parent_part = await prepared(app, clock, tmp_path, published=True)
    replay = await replay_path(app, cafe.cafe_id)
    assert replay is not None and level(replay, 13.0, 15.0) > 0.1  # her voice is in it
    assert await found(app, "Camille", cafe.slug)

    # The preview says what will go, and changes nothing.
    response = await post(client, cafe.slug, "/erase", {"pseudonym": " marie DUPONT "})
    preview = await response.text()
    assert response.status == 200 and "1 question et ses votes" in preview
    assert "1 message de discussion" in preview and "1 passage de la" in preview
    assert len(await one(app, sa.select(chat_messages.c.id))) == 1
    unknown = await post(client, cafe.slug, "/erase", {"pseudonym": "Personne"})
    assert unknown.status == 404
    assert "Aucun participant de ce café ne porte ce pseudonyme." in await unknown.text()

    response = await post(client, cafe.slug, "/erase", {"pseudonym": PARENT, "confirm": "1"})
    assert response.status == 303
    assert await one(app, sa.select(questions.c.author_id)) == [(pid + 1,)]  # Paul's stays
    assert await one(app, sa.select(votes.c.participant_id)) == []
    assert await one(app, sa.select(chat_messages.c.id)) == []
    assert await one(app, sa.select(participants.c.pseudonym).where(
        participants.c.id == pid)) == [(ERASED,)]
    speakers = {r.speaker for r in await one(app, sa.select(segments.c.speaker))}
    assert speakers == {"Dr Martin"}
    assert not await found(app, "Camille", cafe.slug)
    assert not parent_part.exists() and cafe.part.is_file()
    # The replay was mixed again without her part: silent where she spoke, the expert kept.
    replay = await replay_path(app, cafe.cafe_id)
    assert replay is not None
    assert level(replay, 13.0, 15.0) < 0.01 and level(replay, 2.0, 4.0) > 0.1
    # The log keeps what moderators did, not her name or words.
    rows = await one(app, sa.select(audit_log.c.action, audit_log.c.detail).order_by(
        audit_log.c.id))
    flat = repr(rows)
    assert PARENT not in flat and "06 12 34 56 78" not in flat
    reported = repr(await one(app, sa.select(reports)))
    assert PARENT not in reported and "06 12 34 56 78" not in reported and "Paul" in reported
    erased = [d for action, d in rows if action == "participant.erase"]
    assert erased and erased[0]["questions"] == 1 and erased[0]["messages"] == 1
    assert erased[0]["segments"] == 1 and erased[0]["parts"] == 1
    page = await (await client.get(f"/admin/cafes/{cafe.slug}?erased=1")).text()
    assert "Les contributions du participant ont été effacées." in page
    assert "a effacé les contributions d’un participant" in page


async def test_erasing_after_the_parts_are_gone_silences_the_replay_itself(
        app: web.Application, aiohttp_client: MakeClient, clock: FixedClock,
        tmp_path: Path) -> None:
    await aiohttp_client(app)
    cafe, _, _ = await prepared(app, clock, tmp_path, published=True)
    clock.advance(31 * DAY)
    await app[RETENTION].run()
    replay = await replay_path(app, cafe.cafe_id)
    assert replay is not None and level(replay, 13.0, 15.0) > 0.1
    done = await app[RETENTION].erase(cafe.cafe_id, PARENT, "organiser:Orga#1",
                                      confirmed=True)
    assert done.done and done.segments == 1 and done.parts == 0
    assert await one(app, sa.select(redactions.c.applied)) == [(True,)]
    assert level(replay, 13.2, 14.8) < 0.01 and level(replay, 2.0, 4.0) > 0.1


@pytest.mark.timeout(300)  # six CLI processes, each importing the app
def test_the_shell_commands(tmp_path: Path) -> None:
    env = {**os.environ, "CAUSERIE_DATA_DIR": str(tmp_path / "var"),
           "CAUSERIE_LOG_LEVEL": "WARNING"}

    def causerie(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "server.cli", *args], env=env,
                              capture_output=True, text=True, timeout=120, check=False)

    assert causerie("db", "upgrade").returncode == 0
    done = causerie("retention", "run", "--dry-run")
    assert done.returncode == 0 and "nothing is due" in done.stdout
    missing = causerie("retention", "erase", "nope", "--pseudonym", "X")
    assert missing.returncode == 1 and "No such café" in missing.stderr
    created = causerie("cafe", "create", "--title", "Écrans", "--theme", "screens",
                       "--starts-at",
                       f"{date.today() + timedelta(days=3)}T20:00")
    assert created.returncode == 0, created.stderr
    slug = next(line.split(": ", 1)[1] for line in created.stdout.splitlines()
                if line.startswith("slug: "))
    nobody = causerie("retention", "erase", slug, "--pseudonym", "Marie")
    assert nobody.returncode == 1 and "No participant" in nobody.stderr
    deleted = causerie("retention", "delete-recordings", slug)
    assert deleted.returncode == 0 and "0 parts deleted" in deleted.stdout


async def test_the_programme_is_a_recording_and_its_video_replay_a_replay(
        app: web.Application, aiohttp_client: MakeClient, clock: FixedClock,
        tmp_path: Path) -> None:
    """The broadcast's programme segments (the expert's video and every voice) go with the
    raw recordings; the video replay made from them goes with the unpublished replay."""
    from transcripts.video_replay import META, REPLAY, programme_folder

    await aiohttp_client(app)
    cafe, _, _ = await prepared(app, clock, tmp_path, published=True)
    folder = programme_folder(tmp_path / "var", cafe.cafe_id)
    (folder / "r1").mkdir(parents=True)
    segments_ts = [folder / "r1" / f"seg-{i:05d}.ts" for i in range(3)]
    for path in segments_ts:
        path.write_bytes(b"\x47" * 188 * 10)
    (folder / "runs.json").write_text('[{"run": "r1", "cafe_seconds": 0.0}]')
    (folder / REPLAY).write_bytes(b"mp4")
    (folder / META).write_text("{}")
    assert (await app[RETENTION].stored(cafe.cafe_id))[0] == 2 + 4
    clock.advance(31 * DAY)
    report = await app[RETENTION].run()
    assert [(d.cafe_id, d.files) for d in report.parts] == [(cafe.cafe_id, 6)]
    assert not any(p.exists() for p in segments_ts) and not (folder / "runs.json").exists()
    assert (folder / REPLAY).is_file()  # published: the video replay stays
    async with app[DATABASE].transaction() as conn:
        await conn.execute(cafes.update().where(cafes.c.id == cafe.cafe_id).values(
            transcript_published=False))
    report = await app[RETENTION].run()
    assert [d.cafe_id for d in report.replays] == [cafe.cafe_id]
    assert not (folder / REPLAY).exists() and not (folder / META).exists()
