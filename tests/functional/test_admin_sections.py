"""The café's admin page shows the moderation audit log and the transcript's progress."""

from __future__ import annotations

from aiohttp import web
from page_support import Client, login, make_cafe

from server.keys import CAFES, SERVICES
from sessions.clock import FixedClock
from sessions.roles import Role
from transcripts.keys import TRANSCRIPTS


async def test_audit_log_and_transcript_progress(
    client: Client, app: web.Application, clock: FixedClock
) -> None:
    await login(client, app)
    slug = await make_cafe(app, clock, "Réseaux sociaux")
    cafes = app[CAFES]
    cafe = await cafes.get(slug)
    moderator = (await cafes.join(slug, browser_key="m" * 32, pseudonym="Sophie",
                                  invitation_token=(await cafes.invite(cafe.id, Role.MODERATOR))
                                  .token)).actor
    await cafes.open_cafe(moderator)
    parent = (await cafes.join(slug, browser_key="p" * 32, pseudonym="Léa")).actor
    services = app[SERVICES]
    await services.qa.ask(parent, "Comment parler du <b>harcèlement</b> ?")
    queue = await services.qa.queue(cafe.id)
    question_id = next(iter(queue.questions))
    await services.qa.reject(moderator, question_id, "Hors sujet <script>")

    page = await (await client.get(f"/admin/cafes/{slug}")).text()
    assert "Journal de modération" in page
    assert "a refusé la question de" in page and "Sophie" in page
    assert "Hors sujet &lt;script&gt;" in page and "<script>" not in page.split("<body")[1]
    assert "Aucun enregistrement à transcrire" in page

    repo = app[TRANSCRIPTS].repo
    done = await repo.create_recording(cafe.id, moderator.participant_id, "Sophie",
                                       "a.ogg", 0.0)
    await repo.create_recording(cafe.id, moderator.participant_id, "Sophie", "b.ogg", 120.0)
    await repo.ensure_job(cafe.id, done)
    page = await (await client.get(f"/admin/cafes/{slug}")).text()
    assert 'id="transcript-progress"' in page and "en attente" in page
