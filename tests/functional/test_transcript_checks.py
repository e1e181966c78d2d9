"""The transcript's check on the café's admin page: per speaker and part, seconds of speech
against seconds transcribed; a warning; publishing over it needs a confirmation that the
server enforces (a plain form post without it publishes nothing)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from aiohttp import web
from page_support import Client, csrf, login, make_cafe

from server.keys import CAFES
from sessions.clock import FixedClock
from sessions.roles import Role
from transcripts.engine import Segment
from transcripts.keys import TRANSCRIPTS
from transcripts.parts import PartReport


async def test_part_checks_warn_and_publishing_needs_a_confirmation(
    client: Client, app: web.Application, clock: FixedClock
) -> None:
    await login(client, app)
    slug = await make_cafe(app, clock, "Harcèlement en ligne")
    cafes = app[CAFES]
    cafe = await cafes.get(slug)
    expert = (await cafes.join(slug, browser_key="e" * 32, pseudonym="Dr Martin",
                               invitation_token=(await cafes.invite(cafe.id, Role.EXPERT))
                               .token)).actor
    await cafes.open_cafe(expert)
    repo = app[TRANSCRIPTS].repo
    good = await repo.create_recording(cafe.id, expert.participant_id, "Dr Martin", "a.ogg", 0)
    bad = await repo.create_recording(cafe.id, expert.participant_id, "Dr Martin", "b.ogg", 125)
    for rid, covered in ((good, 95.0), (bad, 12.0)):
        await repo.close_recording(rid, 120.0)
        await repo.ensure_job(cafe.id, rid)
        await repo.start_job(rid, stale_after=dt.timedelta(minutes=10))
        await repo.complete_job(await repo.recording(rid),
                                [Segment(1, 3, "Dr Martin", "Bonjour")],
                                PartReport(120.0, 100.0, covered, chunks=8, retried=3))
    await cafes.end_cafe(expert)

    page = await (await client.get(f"/admin/cafes/{slug}")).text()
    assert "100 s de parole, 95 s transcrits" in page
    assert "100 s de parole, 12 s transcrits" in page and "trop peu de texte" in page
    assert "02:05" in page and "relisez la transcription avant de la publier" in page

    token = await csrf(client, f"/admin/cafes/{slug}")
    # A plain "publish" (what a script-less browser or a hand-made request sends) is not
    # enough while a part falls short: the page asks to confirm, nothing is published.
    first = await client.post(f"/admin/cafes/{slug}/transcript",
                              data={"csrf_token": token, "publish": "1"},
                              allow_redirects=False)
    assert first.status == 303 and "confirm_publish=1" in first.headers["Location"]
    assert not (await cafes.get(slug)).transcript_published
    confirm = await (await client.get(first.headers["Location"])).text()
    assert "Publier quand même" in confirm and 'name="confirm" value="1"' in confirm
    done = await client.post(f"/admin/cafes/{slug}/transcript",
                             data={"csrf_token": token, "publish": "1", "confirm": "1"},
                             allow_redirects=False)
    assert done.status == 303 and (await cafes.get(slug)).transcript_published


async def test_publishing_a_checked_transcript_needs_no_confirmation(
    client: Client, app: web.Application, clock: FixedClock
) -> None:
    await login(client, app)
    slug = await make_cafe(app, clock, "Écrans")
    cafes = app[CAFES]
    cafe = await cafes.get(slug)
    expert = (await cafes.join(slug, browser_key="f" * 32, pseudonym="Dr Martin",
                               invitation_token=(await cafes.invite(cafe.id, Role.EXPERT))
                               .token)).actor
    await cafes.open_cafe(expert)
    repo = app[TRANSCRIPTS].repo
    rid = await repo.create_recording(cafe.id, None, "Dr Martin", "a.ogg", 0)
    await repo.close_recording(rid, 60.0)
    await repo.ensure_job(cafe.id, rid)
    await repo.start_job(rid, stale_after=dt.timedelta(minutes=10))
    await repo.complete_job(await repo.recording(rid), [], PartReport(60.0, 40.0, 39.0))
    await cafes.end_cafe(expert)
    token = await csrf(client, f"/admin/cafes/{slug}")
    resp = await client.post(f"/admin/cafes/{slug}/transcript",
                             data={"csrf_token": token, "publish": "1"}, allow_redirects=False)
    assert resp.status == 303 and "confirm" not in resp.headers["Location"]
    assert (await cafes.get(slug)).transcript_published


async def test_the_review_page_publish_needs_the_same_confirmation(
    client: Client, app: web.Application, clock: FixedClock, tmp_path: Path
) -> None:
    from review_support import act, ended_cafe, open_review

    await login(client, app)
    cafe = await ended_cafe(app, clock, tmp_path / "parts")
    repo = app[TRANSCRIPTS].repo
    (recording,) = await repo.recordings(cafe.cafe_id, status=("transcribed",))
    await repo.complete_job(recording, await repo.segments(cafe.cafe_id),
                            PartReport(10.0, 8.0, 1.0))  # speech with too little text
    status, token = await open_review(client, cafe.slug)
    assert status == 200
    status, answer = await act(client, cafe.slug, "/publish", {"published": True}, token)
    assert status == 409 and answer["error"]["code"] == "confirm_publish"
    assert "Publier quand même" in answer["error"]["message"]
    assert not (await app[CAFES].get(cafe.slug)).transcript_published
    status, answer = await act(client, cafe.slug, "/publish",
                               {"published": True, "confirm": True}, token)
    assert status == 200 and answer["published"] is True
