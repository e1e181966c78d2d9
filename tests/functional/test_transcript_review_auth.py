"""Who may review: every action of the review page, for every kind of visitor, decided on
the server. Generated as identity x action: the organiser may do all; the café's own expert
may do all but publish; the café's moderator, another café's expert, a revoked expert link,
a forged link and an anonymous visitor may do nothing (403, or the login page for the page
itself), and a refused action changes nothing."""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from aiohttp import web
from review_support import Client, ReviewCafe, csrf_of, ended_cafe, open_review, segment_rows

from server.app import create_app
from server.auth import create_organiser
from server.config import load_config
from server.keys import CAFES, DATABASE
from sessions.clock import FixedClock
from sessions.roles import Role
from sessions.storage.tables import audit_log, cafes

MakeClient = Callable[[web.Application], Awaitable[Client]]
PASSWORD = "correct horse battery"

IDENTITIES = ("organiser", "expert", "moderator", "other_expert", "revoked_expert",
              "forged_link", "anonymous")
ACTIONS = ("page", "recording", "edit", "split", "join", "redact", "redact_participant",
           "publish")
ALLOWED = {
    "organiser": set(ACTIONS),
    "expert": set(ACTIONS) - {"publish"},
}


@pytest.fixture
def app(tmp_path: Path, sqlite_url: str, clock: FixedClock) -> web.Application:
    config = load_config(data_dir=tmp_path / "var", database_url=sqlite_url,
                         secret_key="review-secret-key-0123456789-abcdefghij")
    return create_app(config, clock=clock)


def link_of(identity: str, cafe: ReviewCafe, other: ReviewCafe) -> str | None:
    """The invitation link this visitor holds, if any."""
    return {"expert": cafe.expert, "moderator": cafe.moderator, "revoked_expert": cafe.expert,
            "other_expert": other.expert, "forged_link": cafe.expert[:-4] + "AAAA",
            }.get(identity)


async def visitor(app: web.Application, client: Client, identity: str, cafe: ReviewCafe,
                  other: ReviewCafe) -> str:
    """Make `client` this identity; the CSRF token of its session."""
    if identity == "organiser":
        await create_organiser(app[CAFES], "orga@example.org", "Orga", PASSWORD)
        token = csrf_of(await (await client.get("/login")).text())
        await client.post("/login", data={"email": "orga@example.org", "password": PASSWORD,
                                          "csrf_token": token, "next": "/admin"})
    link = link_of(identity, cafe, other)
    if identity == "other_expert":  # a reviewer of their own café, and only of it
        assert (await client.get(f"/cafes/{other.slug}/review?invite={other.expert}")).status == 200
    if link is not None:
        await client.get(f"/cafes/{cafe.slug}/review?invite={link}")
    if identity == "revoked_expert":
        (invitation,) = [i for i in await app[CAFES].invitations(cafe.cafe_id)
                         if i.role is Role.EXPERT]
        await app[CAFES].revoke_invitation(cafe.cafe_id, invitation.id)
    return csrf_of(await (await client.get("/login")).text())


async def attempt(client: Client, action: str, cafe: ReviewCafe, rows: list[dict[str, Any]],
                  token: str, link: str | None) -> int:
    first, second = rows[0], rows[1]
    if action == "page":  # as the visitor would open it: with their link, if they hold one
        path = f"/cafes/{cafe.slug}/review" + (f"?invite={link}" if link else "")
        return (await client.get(path, allow_redirects=False)).status
    if action == "recording":
        return (await client.get(f"/cafes/{cafe.slug}/review/recording")).status
    actions: dict[str, tuple[str, dict[str, Any]]] = {
        "edit": (f"/segments/{first['id']}", {"text": "Texte corrigé"}),
        "split": (f"/segments/{first['id']}/split", {"at": 9}),
        "join": (f"/segments/{first['id']}/join",
                 {"next_id": second["id"], "next_version": second["version"]}),
        "redact": (f"/segments/{first['id']}/redact", {"start": 0, "end": 7}),
        "redact_participant": ("/participants/1/redact", {}),
        "publish": ("/publish", {"published": True}),
    }
    path, body = actions[action]
    if action not in ("publish", "redact_participant"):
        body = {"version": first["version"], **body}
    response = await client.post(f"/api/cafes/{cafe.slug}/review{path}", json=body,
                                 headers={"X-CSRF-Token": token})
    return response.status


@pytest.mark.parametrize(("identity", "action"), list(itertools.product(IDENTITIES, ACTIONS)))
async def test_who_may_do_what(app: web.Application, aiohttp_client: MakeClient,
                               tmp_path: Path, clock: FixedClock, identity: str,
                               action: str) -> None:
    client = await aiohttp_client(app)
    folder = tmp_path / "var" / "recordings" / "parts"
    cafe = await ended_cafe(app, clock, folder)
    other = await ended_cafe(app, clock, folder, title="Un autre café")
    token = await visitor(app, client, identity, cafe, other)
    before = await segment_rows(app, cafe.cafe_id)
    status = await attempt(client, action, cafe, before, token,
                           link_of(identity, cafe, other))
    if action in ALLOWED.get(identity, set()):
        assert status == 200, (identity, action, status)
        return
    if action == "page" and identity == "anonymous":
        assert status == 303  # to the login page
    else:
        assert status == 403, (identity, action, status)
    # Refused: nothing changed, nothing audited, still unpublished.
    assert await segment_rows(app, cafe.cafe_id) == before
    async with app[DATABASE].connect() as conn:
        assert await conn.scalar(sa.select(sa.func.count()).select_from(audit_log)) == 0
        assert await conn.scalar(sa.select(cafes.c.transcript_published).where(
            cafes.c.id == cafe.cafe_id)) is False


async def test_action_without_csrf_token_is_refused(app: web.Application,
                                                    aiohttp_client: MakeClient,
                                                    tmp_path: Path, clock: FixedClock) -> None:
    client = await aiohttp_client(app)
    cafe = await ended_cafe(app, clock, tmp_path / "var" / "recordings" / "parts")
    status, _ = await open_review(client, cafe.slug, cafe.expert)
    assert status == 200
    rows = await segment_rows(app, cafe.cafe_id)
    for headers in ({}, {"X-CSRF-Token": "forged"}):
        response = await client.post(f"/api/cafes/{cafe.slug}/review/segments/{rows[0]['id']}",
                                     json={"version": 1, "text": "x"}, headers=headers)
        assert response.status == 403
    assert await segment_rows(app, cafe.cafe_id) == rows


async def test_live_cafe_is_not_reviewed_yet(app: web.Application, aiohttp_client: MakeClient,
                                             tmp_path: Path, clock: FixedClock) -> None:
    client = await aiohttp_client(app)
    cafe = await ended_cafe(app, clock, tmp_path / "var" / "recordings" / "parts")
    async with app[DATABASE].transaction() as conn:
        await conn.execute(sa.update(cafes).where(cafes.c.id == cafe.cafe_id).values(
            status="live"))
    _, token = await open_review(client, cafe.slug, cafe.expert)
    rows = await segment_rows(app, cafe.cafe_id)
    response = await client.post(f"/api/cafes/{cafe.slug}/review/segments/{rows[0]['id']}",
                                 json={"version": 1, "text": "x"},
                                 headers={"X-CSRF-Token": token})
    assert response.status == 409
    assert (await response.json())["error"]["code"] == "invalid_state"


def test_matrix_covers_every_action_of_the_review_routes() -> None:
    from server import views_review

    posts = [r for r in views_review.routes if getattr(r, "method", "") == "POST"]
    gets = [r for r in views_review.routes if getattr(r, "method", "") == "GET"]
    assert len(posts) == len(ACTIONS) - 2 and len(gets) == 2
