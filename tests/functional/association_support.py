"""Two associations on one server, for the association-scope tests: A (the first one, made
by the migration) and B, each with a logged-in organiser and a café."""

from __future__ import annotations

import base64
import json
import re
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

from server.auth import create_organiser
from server.keys import CAFES
from sessions.associations import Association, validate_association
from sessions.cafe import Cafe, CafeStatus, validate_draft
from sessions.clock import FixedClock
from sessions.service_associations import OPERATOR

Client = TestClient[web.Request, web.Application]
PASSWORD = "correct horse battery"


async def logged_in(app: web.Application, organiser_id: int) -> tuple[str, str]:
    """A logged-in organiser's session cookie that already holds a CSRF token, and the
    token (what `POST /login` and a first form page make)."""
    from cryptography.fernet import Fernet

    from server.auth import SESSION_MAX_AGE, session_key
    from server.keys import CLOCK, CONFIG
    from server.login_sessions import LOGIN_STORE, record_key

    sid, token = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    now = app[CLOCK].now()
    await app[LOGIN_STORE].add(record_key(sid), organiser_id, now,
                               now + timedelta(seconds=SESSION_MAX_AGE))
    fernet = Fernet(base64.urlsafe_b64encode(session_key(app[CONFIG].secret_key)))
    data = {"organiser_id": organiser_id, "sid": sid, "csrf_token": token}
    body = json.dumps({"session": data, "created": int(time.time())})
    return fernet.encrypt(body.encode()).decode(), token


@dataclass
class Side:
    association: Association
    organiser_id: int
    cafe: Cafe
    cookie: str
    csrf: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Cookie": f"causerie_session={self.cookie}"}


async def make_side(app: web.Application, clock: FixedClock, name: str | None,
                    *, live: bool = False) -> Side:
    """An association (None: the first one), an organiser of it, and one of its cafés."""
    cafes = app[CAFES]
    if name is None:
        association = await cafes.associations.first()
    else:
        association = await cafes.associations.create(
            OPERATOR, validate_association(name=name, colour="#aa3355",
                                           website="https://example.org"))
    organiser_id = await create_organiser(
        cafes, f"orga-{secrets.token_hex(3)}@example.org", f"Orga {association.name}",
        PASSWORD, association_id=association.id)
    draft = validate_draft(title=f"Café de {association.name}", description="", theme="screens",
                           language="fr", starts_at=clock.now() + timedelta(days=1),
                           duration_minutes=60, now=clock.now(), is_new=True)
    cafe = await cafes.create_cafe(draft, organiser_id, association.id)
    if live:
        import dataclasses

        async with cafes.db.transaction() as conn:
            await cafes.repo.save_state(conn, dataclasses.replace(
                cafe, status=CafeStatus.LIVE, opened_at=clock.now()))
        cafe = await cafes.get(cafe.slug)
    return Side(association, organiser_id, cafe, *await logged_in(app, organiser_id))


async def csrf_of(client: Client, path: str, headers: dict[str, str]) -> str:
    response = await client.get(path, headers=headers)
    assert response.status == 200, (path, response.status)
    found = re.search(r'name="csrf_token" value="([^"]+)"', await response.text())
    assert found, f"no CSRF token on {path}"
    return found.group(1)


def form(token: str, **fields: Any) -> dict[str, Any]:
    return {"csrf_token": token, **fields}
