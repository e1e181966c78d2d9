"""Chapters on the transcript page and its WebVTT chapters file, from the questions the
expert took in a real café (rows as the Q&A service stores them)."""

from __future__ import annotations

import io
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import webvtt
from aiohttp import web
from review_support import Client, ended_cafe

from server.app import create_app
from server.config import load_config
from server.keys import DATABASE
from sessions.clock import FixedClock
from sessions.storage.tables import cafes, participants, questions

MakeClient = Callable[[web.Application], Awaitable[Client]]


async def ask(app: web.Application, cafe_id: int, author: int, clock: FixedClock, text: str,
              status: str, answering: float | None, answered: float | None) -> None:
    opened = clock.now()
    async with app[DATABASE].transaction() as conn:
        await conn.execute(questions.insert().values(
            cafe_id=cafe_id, author_id=author, text=text, original_text=text + " (Lucas)",
            status=status, created_at=opened, updated_at=opened,
            answering_at=None if answering is None else opened + timedelta(seconds=answering),
            answered_at=None if answered is None else opened + timedelta(seconds=answered)))


async def test_questions_taken_are_chapters_listed_linked_and_in_vtt(
        aiohttp_client: MakeClient, tmp_path: Path, sqlite_url: str, clock: FixedClock,
) -> None:
    config = load_config(data_dir=tmp_path / "var", database_url=sqlite_url,
                         secret_key="review-secret-key-0123456789-abcdefghij")
    app = create_app(config, clock=clock)
    client = await aiohttp_client(app)
    cafe = await ended_cafe(app, clock, tmp_path / "var" / "recordings" / "parts")
    async with app[DATABASE].transaction() as conn:
        author = int(await conn.scalar(participants.insert().values(
            cafe_id=cafe.cafe_id, pseudonym="Marie", role="participant", browser_key="k" * 20,
            joined_at=clock.now()).returning(participants.c.id)))
    args: list[tuple[str, str, float | None, float | None]] = [
        ("Comment parler du <harcèlement> ?", "answered", 62.5, 130.0),
        ("Et le téléphone la nuit ?", "answering", 140.0, None),  # the café ended on it
        ("Pas encore prise", "approved", None, None),
        ("Reprise par erreur", "approved", None, None),  # "answering now" undone
    ]
    for text, status, answering, answered in args:
        await ask(app, cafe.cafe_id, author, clock, text, status, answering, answered)

    # Unpublished: no chapters file for the public.
    assert (await client.get(f"/cafes/{cafe.slug}/chapters.vtt")).status == 404
    async with app[DATABASE].transaction() as conn:
        await conn.execute(sa.update(cafes).where(cafes.c.id == cafe.cafe_id).values(
            transcript_published=True))

    response = await client.get(f"/cafes/{cafe.slug}/chapters.vtt")
    assert response.status == 200 and response.content_type == "text/vtt"
    body = await response.text()
    cues = webvtt.from_buffer(io.StringIO(body)).captions
    got: list[Any] = [(c.start, c.end, c.text) for c in cues]
    assert got == [
        ("00:01:02.500", "00:02:10.000", "Comment parler du &lt;harcèlement&gt; ?"),
        ("00:02:20.000", "00:30:00.000", "Et le téléphone la nuit ?"),
    ]
    assert "Lucas" not in body  # the approved text, never the original wording

    html = await (await client.get(f"/cafes/{cafe.slug}/transcript")).text()
    assert '<a class="chapter" href="#t=62.5" data-start="62.5">' in html
    assert "Comment parler du &lt;harcèlement&gt; ?" in html
    assert f'<track kind="chapters" src="/cafes/{cafe.slug}/chapters.vtt"' in html
    assert f'href="/cafes/{cafe.slug}/chapters.vtt" download' in html
