"""Helpers for page tests: cafés made through the service, a CSRF token read from a form,
an organiser logged in through the real login form."""

from __future__ import annotations

import re
from datetime import timedelta

from aiohttp import web
from aiohttp.test_utils import TestClient

from server.auth import create_organiser
from server.keys import CAFES
from sessions.cafe import validate_draft
from sessions.clock import FixedClock

Client = TestClient[web.Request, web.Application]
PASSWORD = "correct horse battery"


async def make_cafe(app: web.Application, clock: FixedClock, title: str,
                    theme: str = "screens", days: int = 2) -> str:
    service = app[CAFES]
    draft = validate_draft(title=title, description="Parlons-en.\n\nEnsemble.", theme=theme,
                           language="fr", starts_at=clock.now() + timedelta(days=days),
                           duration_minutes=60, now=clock.now(), is_new=True)
    return (await service.create_cafe(draft, None)).slug


async def csrf(client: Client, path: str) -> str:
    html = await (await client.get(path)).text()
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, f"no CSRF token on {path}"
    return found.group(1)


async def login(client: Client, app: web.Application) -> None:
    await create_organiser(app[CAFES], "orga@example.org", "Orga", PASSWORD)
    token = await csrf(client, "/login")
    response = await client.post("/login", data={
        "email": "orga@example.org", "password": PASSWORD, "csrf_token": token,
        "next": "/admin"}, allow_redirects=False)
    assert response.status == 303, await response.text()
