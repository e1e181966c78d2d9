"""Association scope (issue 12): an organiser of association A gets 403 on every page and
action of association B's cafés, transcripts, invitations and organisers, and nothing but a
parent's powers on B's café sockets (`forbidden` for staff events); B's own organiser, on the
same requests, is let through. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from association_support import Side, make_side
from signaling_fixtures import Peer, connect

from server.app import create_app
from server.config import load_config
from server.keys import CAFES
from sessions.clock import FixedClock
from sessions.roles import Role


@dataclass
class Two:
    server: TestServer
    app: web.Application
    a: Side
    b: Side
    peers: list[Peer]

    def url(self, path: str) -> str:
        return str(self.server.make_url(path))

    async def request(self, side: Side, method: str, path: str, **kwargs: Any) -> int:
        headers = {**side.headers, **kwargs.pop("headers", {})}
        async with aiohttp.ClientSession() as http, http.request(
                method, self.url(path), headers=headers, allow_redirects=False,
                **kwargs) as response:
            return response.status


@pytest.fixture
async def two(database_url: str, tmp_path: Any) -> AsyncIterator[Two]:
    config = load_config(data_dir=tmp_path / "var", database_url=database_url,
                         secret_key="test-secret-key-0123456789-abcdefghijklmnop",
                         ice={"host_addresses": ["127.0.0.1"]})
    clock = FixedClock()
    app = create_app(config, clock=clock)
    server = TestServer(app)
    await server.start_server()
    a = await make_side(app, clock, None, live=True)
    b = await make_side(app, clock, "Les Pères en réseau", live=True)
    made = Two(server, app, a, b, [])
    yield made
    for peer in made.peers:
        await peer.close()
    await server.close()


def _cafe_requests(two: Two, side: Side) -> list[tuple[str, str, dict[str, Any]]]:
    """Every organiser page and action on café B, with a valid CSRF token of `side`."""
    slug = two.b.cafe.slug
    token = side.csrf
    api = {"headers": {"X-CSRF-Token": token, "Content-Type": "application/json"}}
    return [
        ("GET", f"/admin/cafes/{slug}", {}),
        ("POST", f"/admin/cafes/{slug}", {"data": {
            "csrf_token": token, "title": "Repris", "description": "", "theme": "screens",
            "language": "fr", "starts_at": "2030-01-01T20:00", "duration_minutes": "60",
            "glossary": ""}}),
        ("POST", f"/admin/cafes/{slug}/invitations",
         {"data": {"csrf_token": token, "role": "moderator"}}),
        ("POST", f"/admin/cafes/{slug}/invitations/{{invitation}}/revoke",
         {"data": {"csrf_token": token}}),
        ("POST", f"/admin/cafes/{slug}/transcript",
         {"data": {"csrf_token": token, "publish": "0"}}),
        ("GET", f"/admin/cafes/{slug}/help", {}),
        ("POST", f"/admin/cafes/{slug}/help",
         {"data": {"csrf_token": token, "use_default": "1"}}),
        ("GET", f"/admin/cafes/{slug}/watched-words", {}),
        ("POST", f"/admin/cafes/{slug}/watched-words",
         {"data": {"csrf_token": token, "body": "idiot"}}),
        ("POST", f"/admin/cafes/{slug}/retention", {"data": {"csrf_token": token, "days": "7"}}),
        ("POST", f"/admin/cafes/{slug}/erase",
         {"data": {"csrf_token": token, "pseudonym": "Marie"}}),
        ("POST", f"/admin/cafes/{slug}/recordings/delete",
         {"data": {"csrf_token": token, "confirm": "1"}}),
        ("POST", f"/admin/cafes/{slug}/destinations", {"data": {
            "csrf_token": token, "label": "YouTube", "url": "rtmp://127.0.0.1/live",
            "stream_key": "k-1"}}),
        ("POST", f"/admin/cafes/{slug}/destinations/1/delete", {"data": {"csrf_token": token}}),
        ("GET", f"/cafes/{slug}/review", {}),
        ("GET", f"/cafes/{slug}/review/recording", {}),
        ("POST", f"/api/cafes/{slug}/review/publish",
         {**api, "data": json.dumps({"published": False})}),
        ("POST", f"/api/cafes/{slug}/review/segments/1",
         {**api, "data": json.dumps({"version": 1, "text": "x"})}),
    ]


async def test_organiser_of_a_gets_403_on_every_page_of_b(two: Two) -> None:
    invitation = (await two.app[CAFES].invite(two.b.cafe.id, Role.EXPERT)).id
    before = await two.app[CAFES].get(two.b.cafe.slug)
    for method, path, kwargs in _cafe_requests(two, two.a):
        path = path.replace("{invitation}", str(invitation))
        status = await two.request(two.a, method, path, **kwargs)
        assert status == 403, (method, path, status)
    after = await two.app[CAFES].get(two.b.cafe.slug)
    assert after == before
    assert not any(i.revoked for i in await two.app[CAFES].invitations(two.b.cafe.id))


async def test_organiser_of_b_is_let_through_the_same_requests(two: Two) -> None:
    invitation = (await two.app[CAFES].invite(two.b.cafe.id, Role.EXPERT)).id
    for method, path, kwargs in _cafe_requests(two, two.b):
        path = path.replace("{invitation}", str(invitation))
        status = await two.request(two.b, method, path, **kwargs)
        assert status != 403, (method, path, status)


async def test_admin_lists_only_the_own_association(two: Two) -> None:
    async with aiohttp.ClientSession() as http, http.get(
            two.url("/admin"), headers=two.a.headers) as response:
        html = await response.text()
    assert two.a.cafe.title in html and two.b.cafe.title not in html


async def test_socket_of_a_organiser_in_b_cafe_is_a_parent(two: Two) -> None:
    peer = await connect(two.url("/"), headers=dict(two.a.headers))
    two.peers.append(peer)
    ack = await peer.call("join", {"cafe": two.b.cafe.slug, "pseudonym": "Alice",
                                   "browser_key": "k" * 32})
    assert ack["ok"] and ack["participant"]["role"] == "participant", ack
    for event, payload in (("cafe.end", {}), ("qa.approve", {"question_id": 1}),
                           ("moderation.ban", {"participant_id": 1}),
                           ("chat.hide", {"message_id": 1})):
        refused = await peer.call(event, payload)
        assert refused.get("error", {}).get("code") == "forbidden", (event, refused)
    # The same login in its own association's café is its organiser.
    own = await connect(two.url("/"), headers=dict(two.a.headers))
    two.peers.append(own)
    mine = await own.call("join", {"cafe": two.a.cafe.slug, "pseudonym": "Alice",
                                   "browser_key": "m" * 32})
    assert mine["ok"] and mine["participant"]["role"] == "organiser", mine


async def test_scheduled_cafe_of_b_refuses_a_organiser_socket(two: Two) -> None:
    from datetime import timedelta

    from sessions.cafe import validate_draft

    clock = two.app[CAFES].clock
    draft = validate_draft(title="Pas encore", description="", theme="screens", language="fr",
                           starts_at=clock.now() + timedelta(days=2), duration_minutes=60,
                           now=clock.now(), is_new=True)
    later = await two.app[CAFES].create_cafe(draft, None, two.b.association.id)
    peer = await connect(two.url("/"), headers=dict(two.a.headers))
    two.peers.append(peer)
    ack = await peer.call("join", {"cafe": later.slug, "pseudonym": "Alice",
                                   "browser_key": "s" * 32})
    assert ack.get("error", {}).get("code") == "forbidden", ack


async def test_default_watched_words_belong_to_the_association(two: Two) -> None:
    """(Issue 11, point 3.) The default list of watched words is the association's: only
    its own organisers read and edit it (403 for an organiser of another association, and
    nothing stored), and every café of that association, new ones included, applies it;
    the other association's cafés do not."""
    from datetime import timedelta

    from server.keys import SERVICES
    from sessions.cafe import validate_draft
    from sessions.watchwords import WatchAction

    watch = two.app[SERVICES].watch
    path = f"/admin/associations/{two.b.association.slug}/watched-words"
    refused = [await two.request(two.a, "GET", path),
               await two.request(two.a, "POST", path, data={
                   "csrf_token": two.a.csrf, "body": "nounours | block"})]
    assert refused == [403, 403]
    assert "nounours" not in await watch.default_list(two.b.association.id)
    assert await two.request(two.b, "POST", path, data={
        "csrf_token": two.b.csrf, "body": "nounours | block\n@telephone"}) == 303
    assert "nounours | block" in await watch.default_list(two.b.association.id)
    # A's list is still the shipped one, and A's page of it is A's own.
    assert "nounours" not in await watch.default_list(two.a.association.id)
    own = f"/admin/associations/{two.a.association.slug}/watched-words"
    assert await two.request(two.a, "GET", own) == 200
    async with aiohttp.ClientSession() as http, http.get(
            two.url("/admin/watched-words"), headers=two.a.headers,
            allow_redirects=False) as response:  # the older address: one's own list
        assert (response.status, response.headers["Location"]) == (303, own)

    clock = two.app[CAFES].clock
    draft = validate_draft(title="Nouveau café", description="", theme="screens",
                           language="fr", starts_at=clock.now() + timedelta(days=3),
                           duration_minutes=60, now=clock.now(), is_new=True)
    new_b = await two.app[CAFES].create_cafe(draft, two.b.organiser_id, two.b.association.id)
    new_a = await two.app[CAFES].create_cafe(draft, two.a.organiser_id, two.a.association.id)
    for cafe_id in (new_b.id, two.b.cafe.id):
        assert (await watch.verdict(cafe_id, "Mon NOUNOURS")).action is WatchAction.BLOCK
        assert (await watch.verdict(cafe_id, "salope")).action is None  # B's list replaced it
    for cafe_id in (new_a.id, two.a.cafe.id):
        assert (await watch.verdict(cafe_id, "Mon nounours")).action is None
        assert (await watch.verdict(cafe_id, "salope")).action is WatchAction.HOLD
    # A café page's link leads to its association's list.
    async with aiohttp.ClientSession() as http, http.get(
            two.url(f"/admin/cafes/{new_b.slug}/watched-words"),
            headers=two.b.headers) as response:
        assert f'href="{path}" id="default-list-link"' in await response.text()
