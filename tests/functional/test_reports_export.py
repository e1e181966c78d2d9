"""The organiser's evidence export: a café's reports and moderation log, CSV and JSON, times
in the café's zone (Europe/Paris), pseudonyms, texts and actions; the admin page's
safeguarding section; both behind the login."""

from __future__ import annotations

import csv
import io
import json

from aiohttp import web
from page_support import Client, login, make_cafe

from server.keys import CAFES, SERVICES
from sessions.clock import FixedClock
from sessions.roles import Role


async def test_export_csv_and_json(client: Client, app: web.Application,
                                   clock: FixedClock) -> None:
    slug = await make_cafe(app, clock, "Harcèlement en ligne")
    cafes = app[CAFES]
    cafe = await cafes.get(slug)
    token = (await cafes.invite(cafe.id, Role.MODERATOR)).token
    moderator = (await cafes.join(slug, browser_key="m" * 32, pseudonym="Julie",
                                  invitation_token=token)).actor
    await cafes.open_cafe(moderator)
    marie = (await cafes.join(slug, browser_key="p" * 32, pseudonym="Marie")).actor
    troll = (await cafes.join(slug, browser_key="t" * 32, pseudonym="Troll")).actor
    services = app[SERVICES]
    [message] = await services.moderation.send_chat(troll, "=HYPERLINK(\"x\") t'es nulle")
    await services.reports.file(marie, "chat", message.payload["id"], "harassment",
                                "Il recommence")
    snapshot = await services.reports.snapshot(moderator)
    assert snapshot is not None
    await services.reports.resolve(moderator, snapshot["reports"][0]["id"], "hide")

    assert (await client.get(f"/admin/cafes/{slug}/safeguarding.json",
                             allow_redirects=False)).status == 303  # not logged in
    await login(client, app)
    response = await client.get(f"/admin/cafes/{slug}/safeguarding.json")
    assert response.status == 200
    assert "attachment" in response.headers["Content-Disposition"]
    data = json.loads(await response.text())
    assert data["cafe"]["timezone"] == "Europe/Paris"
    [report] = data["reports"]
    assert report["pseudonym"] == "Troll" and report["reason"] == "harassment"
    assert report["note"] == "Il recommence" and report["resolution"] == "hide"
    assert report["resolved_by"] == "Julie"
    assert report["time"].endswith("+01:00")  # December in Paris
    actions = [e["action"] for e in data["moderation_log"]]
    assert actions == ["chat.hide", "report.resolve"]
    assert data["moderation_log"][0]["actor"] == "Julie"
    assert data["moderation_log"][0]["text"].startswith("=HYPERLINK")  # JSON keeps the text

    response = await client.get(f"/admin/cafes/{slug}/safeguarding.csv")
    assert response.status == 200 and response.content_type == "text/csv"
    rows = list(csv.DictReader(io.StringIO(await response.text())))
    assert [r["record"] for r in rows] == ["report", "moderation", "moderation"]
    assert rows[0]["pseudonym"] == "Troll" and rows[0]["time"].endswith("+01:00")
    assert rows[0]["text"].startswith("'=HYPERLINK")  # not a formula in a spreadsheet
    assert rows[2]["action"] == "report.resolve" and rows[2]["resolution"] == "hide"

    page = await (await client.get(f"/admin/cafes/{slug}")).text()
    assert "Signalements" in page and "0 signalement attend un modérateur" in page
    assert f'href="/admin/cafes/{slug}/safeguarding.csv"' in page
    assert "a traité un signalement visant Troll\u202f: masqué" in page
    assert "a masqué un message de Troll" in page
