"""The review page's actions against the real app, on SQLite and PostgreSQL: corrections
reach the page, the search index and every export at once; a redaction becomes "[retiré]"
everywhere and silences the replay file itself; a second reviewer of the same version gets
a conflict; every action is audited; bad input is refused and changes nothing."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, cast

import numpy as np
import pytest
import sqlalchemy as sa
from aiohttp import web
from aiohttp.test_utils import TestClient
from page_support import PASSWORD
from review_support import (
    SEGMENTS,
    Client,
    ReviewCafe,
    act,
    ended_cafe,
    open_review,
    segment_rows,
    timed_words,
)

from server.app import create_app
from server.auth import create_organiser
from server.config import load_config
from server.keys import CAFES, DATABASE
from sessions.clock import FixedClock
from sessions.storage.tables import audit_log, recordings
from transcripts.engine import SAMPLE_RATE, Segment, decode_audio
from transcripts.keys import TRANSCRIPTS
from transcripts.review import REDACTED
from transcripts.search import search

MakeClient = Callable[[web.Application], Awaitable[Client]]


@pytest.fixture
def review_app(tmp_path: Path, database_url: str, clock: FixedClock) -> web.Application:
    config = load_config(data_dir=tmp_path / "var", database_url=database_url,
                         secret_key="review-secret-key-0123456789-abcdefghij")
    return create_app(config, clock=clock)


async def organiser_client(app: web.Application, make: MakeClient | Client,
                           email: str = "orga@example.org") -> Client:
    """A client logged in as a new organiser; given a client, a second one (its own cookie
    jar) on the same running server."""
    if isinstance(make, TestClient):
        client = cast(Client, TestClient(make.server))
        await client.start_server()
    else:
        client = await make(app)
    await create_organiser(app[CAFES], email, email.split("@")[0], PASSWORD)
    from review_support import csrf_of

    token = csrf_of(await (await client.get("/login")).text())
    response = await client.post("/login", data={"email": email, "password": PASSWORD,
                                                 "csrf_token": token, "next": "/admin"},
                                 allow_redirects=False)
    assert response.status == 303
    return client


@pytest.fixture
async def reviewed(review_app: web.Application, aiohttp_client: MakeClient, tmp_path: Path,
                   clock: FixedClock) -> tuple[Client, ReviewCafe, str]:
    client = await organiser_client(review_app, aiohttp_client)
    cafe = await ended_cafe(review_app, clock, tmp_path / "var" / "recordings" / "parts")
    status, token = await open_review(client, cafe.slug)
    assert status == 200
    return client, cafe, token


async def audits(app: web.Application, cafe_id: int) -> list[Any]:
    async with app[DATABASE].connect() as conn:
        return list(await conn.execute(sa.select(audit_log).where(
            audit_log.c.cafe_id == cafe_id).order_by(audit_log.c.id)))


async def found(app: web.Application, word: str, slug: str) -> list[Any]:
    from transcripts.search import SearchFilters

    return list((await search(app[DATABASE], word, filters=SearchFilters(cafe=slug))).hits)


async def test_unpublished_transcript_is_reviewed_not_public(
        reviewed: tuple[Client, ReviewCafe, str]) -> None:
    client, cafe, _ = reviewed
    html = await (await client.get(f"/cafes/{cafe.slug}/review")).text()
    assert "Lucas Martin" in html and html.count('<li class="segment" id="s') == 3
    assert f'<source src="/cafes/{cafe.slug}/review/recording">' in html
    audio = await client.get(f"/cafes/{cafe.slug}/review/recording")
    assert audio.status == 200 and (await audio.read()).startswith(b"OggS")
    # The public still sees nothing of it.
    assert (await client.get(f"/cafes/{cafe.slug}/transcript")).status == 404
    assert (await client.get(f"/cafes/{cafe.slug}/recording")).status == 404


async def test_correction_reaches_index_and_exports_keeping_word_timings(
        reviewed: tuple[Client, ReviewCafe, str], review_app: web.Application) -> None:
    client, cafe, token = reviewed
    first = (await segment_rows(review_app, cafe.cafe_id))[0]
    status, answer = await act(client, cafe.slug, "/publish", {"published": True}, token)
    assert status == 200 and answer["published"] is True
    assert await found(review_app, "harcelement", cafe.slug)
    status, answer = await act(client, cafe.slug, f"/segments/{first['id']}", {
        "version": first["version"], "speaker": "Dr Martine Lefèvre",
        "text": "Bonsoir, je suis Lucas Martin et voici le cyberharcèlement"}, token)
    assert status == 200, answer
    (saved,) = answer["segments"]
    assert saved["version"] == first["version"] + 1
    assert saved["speaker"] == "Dr Martine Lefèvre"
    # The index follows at once: the new word is found, the old one no longer.
    hits = await found(review_app, "cyberharcèlement", cafe.slug)
    assert [h.segment_id for h in hits] == [first["id"]]
    assert not await found(review_app, "harcelement", cafe.slug)
    # Kept words keep their timings; the corrected one takes the replaced word's stretch.
    (row, *_) = await segment_rows(review_app, cafe.cafe_id)
    words = row["words"]
    assert [w[2].strip() for w in words][-1] == "cyberharcèlement"
    assert words[:-1] == [list(w) for w in first["words"][:-1]]
    assert hits[0].moment == first["words"][-1][0]
    exported = await (await client.get(f"/cafes/{cafe.slug}/transcript.txt")).text()
    assert "cyberharcèlement" in exported and "Dr Martine Lefèvre" in exported
    (entry,) = [e for e in await audits(review_app, cafe.cafe_id)
                if e.action == "transcript.edit"]
    assert entry.actor.startswith("organiser:orga#")
    assert entry.detail["before"]["text"].endswith("le harcelement")
    assert entry.detail["after"]["text"].endswith("le cyberharcèlement")
    assert entry.detail["published"] is True  # an edit after publishing is audited alike


async def test_redaction_is_retire_everywhere_and_silent_in_the_replay(
        reviewed: tuple[Client, ReviewCafe, str], review_app: web.Application) -> None:
    client, cafe, token = reviewed
    first = (await segment_rows(review_app, cafe.cafe_id))[0]
    text = first["text"]
    start = text.index("Lucas")
    status, answer = await act(client, cafe.slug, f"/segments/{first['id']}/redact", {
        "version": first["version"], "start": start, "end": start + len("Lucas Martin")},
        token)
    assert status == 200, answer
    assert answer["segments"][0]["text"] == f"Bonsoir, je suis {REDACTED} et voici le harcelement"
    await act(client, cafe.slug, "/publish", {"published": True}, token)
    assert not await found(review_app, "Lucas", cafe.slug)
    assert not await found(review_app, "Martin", cafe.slug)
    assert await found(review_app, "harcelement", cafe.slug)  # the rest stays searchable
    for fmt in ("vtt", "srt", "txt", "json"):
        body = await (await client.get(f"/cafes/{cafe.slug}/transcript.{fmt}")).text()
        assert "Lucas" not in body and "Martin et" not in body, fmt
        assert REDACTED in (json.loads(body)["segments"][0]["text"] if fmt == "json" else body)
    words = json.loads(await (await client.get(f"/cafes/{cafe.slug}/transcript.json")).text())
    assert all("Lucas" not in w["word"] for s in words["segments"] for w in s["words"])
    page = await (await client.get(f"/cafes/{cafe.slug}/transcript")).text()
    assert "Lucas" not in page and REDACTED in page

    # The replay file served to the public is silent over the redacted words.
    async with review_app[DATABASE].connect() as conn:
        replay = (await conn.execute(sa.select(recordings).where(
            recordings.c.cafe_id == cafe.cafe_id, recordings.c.status == "replay"))).one()
    (entry,) = [e for e in await audits(review_app, cafe.cafe_id)
                if e.action == "transcript.redact"]
    lo, hi = entry.detail["silenced"]
    # "Lucas Martin" are words 4 and 5 of 9 over 1..4 s: about 2.0-2.67 s, padded.
    assert 1.7 <= lo <= 2.0 and 2.6 <= hi <= 2.9, (lo, hi)
    served = await client.get(f"/cafes/{cafe.slug}/recording")
    assert served.status == 200
    audio_path = Path(replay.path)
    assert (await served.read()) == await asyncio.to_thread(audio_path.read_bytes)
    audio = decode_audio(audio_path)

    def rms(a: float, b: float) -> float:
        part = audio[int(a * SAMPLE_RATE):int(b * SAMPLE_RATE)]
        return float(np.sqrt(np.mean(part.astype(np.float64) ** 2)))

    inside = rms(lo + 0.05, hi - 0.05)
    outside = rms(5.0, 8.0)
    assert outside > 0.1 and inside < 0.002, (inside, outside)
    assert entry.detail["before"]["text"] == text  # the audit keeps what was removed


async def test_second_reviewer_of_the_same_version_gets_a_conflict(
        reviewed: tuple[Client, ReviewCafe, str], review_app: web.Application,
        aiohttp_client: MakeClient) -> None:
    client, cafe, token = reviewed
    other = await organiser_client(review_app, client, "second@example.org")
    try:
        _, other_token = await open_review(other, cafe.slug)
        seg = (await segment_rows(review_app, cafe.cafe_id))[1]
        status, _ = await act(client, cafe.slug, f"/segments/{seg['id']}",
                              {"version": seg["version"], "text": "les jeux vidéo en ligne"}, token)
        assert status == 200
        status, answer = await act(other, cafe.slug, f"/segments/{seg['id']}",
                                   {"version": seg["version"], "text": "autre chose"}, other_token)
        assert status == 409 and answer["error"]["code"] == "edit_conflict"
        assert answer["error"]["message"].startswith("Quelqu’un d’autre a modifié ce segment")
        assert answer["segments"][0]["text"] == "les jeux vidéo en ligne"
        stored = (await segment_rows(review_app, cafe.cafe_id))[1]
        assert stored["text"] == "les jeux vidéo en ligne"
        # Every other action on the stale version is refused alike.
        for path, body in ((f"/segments/{seg['id']}/split", {"at": 5}),
                           (f"/segments/{seg['id']}/redact", {"start": 0, "end": 3})):
            status, answer = await act(other, cafe.slug, path, {"version": seg["version"], **body},
                                       other_token)
            assert status == 409, (path, answer)
    finally:
        await other.session.close()  # its own cookie jar; the server is the fixture's


async def test_split_then_join_gives_back_the_segment(
        reviewed: tuple[Client, ReviewCafe, str], review_app: web.Application) -> None:
    client, cafe, token = reviewed
    seg = (await segment_rows(review_app, cafe.cafe_id))[1]
    at = seg["text"].index("en ligne")
    status, answer = await act(client, cafe.slug, f"/segments/{seg['id']}/split",
                               {"version": seg["version"], "at": at}, token)
    assert status == 200, answer
    first, second = answer["segments"]
    assert (first["text"], second["text"]) == ("les jeux video", "en ligne permettent de discuter")
    # The second part starts when its first word ("en") was spoken.
    assert first["end"] == second["start"] == seg["words"][3][0]
    rows = await segment_rows(review_app, cafe.cafe_id)
    assert [r["text"] for r in rows][1:3] == ["les jeux video", "en ligne permettent de discuter"]
    status, answer = await act(client, cafe.slug, f"/segments/{first['id']}/join", {
        "version": first["version"], "next_id": second["id"],
        "next_version": second["version"]}, token)
    assert status == 200, answer
    assert answer["removed"] == [second["id"]]
    (joined,) = answer["segments"]
    assert (joined["text"], joined["start"], joined["end"]) == (seg["text"], 5.0, 8.0)
    assert [w for w in (await segment_rows(review_app, cafe.cafe_id))[1]["words"]] == seg["words"]
    # Only a segment and the one right after it can be joined.
    rows = await segment_rows(review_app, cafe.cafe_id)
    status, answer = await act(client, cafe.slug, f"/segments/{rows[0]['id']}/join", {
        "version": rows[0]["version"], "next_id": rows[2]["id"],
        "next_version": rows[2]["version"]}, token)
    assert status == 400, answer
    actions = [e.action for e in await audits(review_app, cafe.cafe_id)]
    assert actions == ["transcript.split", "transcript.join"]


@pytest.mark.parametrize(("path", "body", "code"), [
    ("", {"text": "mot " * 600}, "invalid_input"),                      # too long
    ("", {"text": "   "}, "invalid_input"),                            # empty
    ("", {"speaker": "x" * 81}, "invalid_input"),
    ("", {}, "invalid_input"),                                         # nothing to change
    ("", {"text": "ok", "extra": 1}, "invalid_input"),                 # unknown field
    ("", {"text": 12}, "invalid_input"),                               # not a string
    ("/redact", {"start": 10, "end": 400}, "redaction_outside"),       # past the text
    ("/redact", {"start": 5, "end": 5}, "redaction_outside"),          # empty span
    ("/redact", {"start": 0, "end": 5, "audio_start": 0.5, "audio_end": 2.0},
     "redaction_outside"),                                             # before the segment
    ("/redact", {"start": 0, "end": 5, "audio_start": 3.0, "audio_end": 4.5},
     "redaction_outside"),                                             # after it
    ("/split", {"at": 0}, "invalid_input"),
    ("/split", {"at": 9999}, "invalid_input"),
])
async def test_bad_input_is_refused_and_changes_nothing(
        reviewed: tuple[Client, ReviewCafe, str], review_app: web.Application, path: str,
        body: dict[str, Any], code: str) -> None:
    client, cafe, token = reviewed
    before = await segment_rows(review_app, cafe.cafe_id)
    seg = before[0]
    status, answer = await act(client, cafe.slug, f"/segments/{seg['id']}{path}",
                               {"version": seg["version"], **body}, token)
    assert status == 400 and answer["error"]["code"] == code, answer
    assert answer["error"]["message"]
    assert await segment_rows(review_app, cafe.cafe_id) == before
    assert await audits(review_app, cafe.cafe_id) == []


async def test_withdrawn_cafe_leaves_search_at_once(
        reviewed: tuple[Client, ReviewCafe, str], review_app: web.Application) -> None:
    client, cafe, token = reviewed
    assert not await found(review_app, "telephone", cafe.slug)
    assert (await act(client, cafe.slug, "/publish", {"published": True}, token))[0] == 200
    assert await found(review_app, "telephone", cafe.slug)
    assert (await client.get(f"/cafes/{cafe.slug}/transcript")).status == 200
    assert (await act(client, cafe.slug, "/publish", {"published": False}, token))[0] == 200
    assert not await found(review_app, "telephone", cafe.slug)
    assert (await client.get(f"/cafes/{cafe.slug}/transcript")).status == 404
    actions = [e.action for e in await audits(review_app, cafe.cafe_id)]
    assert actions == ["transcript.publish", "transcript.withdraw"]


async def test_a_job_run_again_keeps_the_review_and_force_keeps_the_redactions(
        reviewed: tuple[Client, ReviewCafe, str], review_app: web.Application) -> None:
    """A transcription job run again after the review (its row failed or went stale, a
    worker took it again) never overwrites the organiser's corrections and redactions; an
    explicit force transcribes again and the redacted words stay out."""
    client, cafe, token = reviewed
    first, second, _ = await segment_rows(review_app, cafe.cafe_id)
    status, _ = await act(client, cafe.slug, f"/segments/{second['id']}", {
        "version": second["version"], "text": "les jeux vidéo en ligne permettent de discuter"},
        token)
    assert status == 200
    start = first["text"].index("Lucas")
    status, _ = await act(client, cafe.slug, f"/segments/{first['id']}/redact", {
        "version": first["version"], "start": start, "end": start + len("Lucas Martin")},
        token)
    assert status == 200
    reviewed_rows = await segment_rows(review_app, cafe.cafe_id)
    runtime = review_app[TRANSCRIPTS]
    assert runtime.jobs is not None
    repo = runtime.repo
    (recording,) = [r for r in await repo.recordings(cafe.cafe_id)
                    if r.status == "transcribed"]
    # The job's row says it must run again: the app's own job runner takes it.
    await repo.fail_job(recording.id, "the worker was lost")
    assert await runtime.jobs.run(recording.id) == 3
    assert (job := await repo.job(recording.id)) is not None and job.status == "done"
    assert await segment_rows(review_app, cafe.cafe_id) == reviewed_rows
    page = await (await client.get(f"/cafes/{cafe.slug}/review")).text()
    assert "jeux vidéo" in page and "Lucas" not in page and REDACTED in page

    # Forced: the new text replaces the review, the redacted words stay "[retiré]" in the
    # text, the words and the search index.
    rerun = [Segment(a, b, "Dr Martin", text, timed_words(a, b, text))
             for a, b, text in SEGMENTS]
    assert await repo.complete_job(recording, rerun, force=True) == 3
    rows = await segment_rows(review_app, cafe.cafe_id)
    assert rows[0]["text"] == f"Bonsoir, je suis {REDACTED} et voici le harcelement"
    assert not any("Lucas" in w[2] or "Martin" in w[2] for w in rows[0]["words"])
    assert rows[1]["text"] == SEGMENTS[1][2]  # the correction was replaced, as asked
    assert (await act(client, cafe.slug, "/publish", {"published": True}, token))[0] == 200
    assert not await found(review_app, "Lucas", cafe.slug)
    assert await found(review_app, "harcelement", cafe.slug)
