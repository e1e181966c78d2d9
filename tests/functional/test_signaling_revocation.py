"""A revoked or expired invitation takes the staff role off the sockets already joined with
it (finding 1 of issue 8): real server, real socket.io clients, the organiser revoking
through the admin page, a real aiortc publication."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from aiortc import RTCPeerConnection
from media_support import publish_tone
from revocation_support import organiser, revoke_over_http
from signaling_fixtures import Live, Peer, browser_key, make_cafe

from sessions.clock import FixedClock
from sessions.roles import Role

# A staff action of each kind, refused once the role is gone (the ids are filled in).
STAFF_ACTIONS: list[tuple[str, dict[str, Any]]] = [
    ("qa.approve", {"question_id": 0}), ("chat.hide", {"message_id": 0}),
    ("stage.mute", {"participant_id": 0, "muted": True}),
    ("moderation.remove", {"participant_id": 0}), ("moderation.ban", {"participant_id": 0}),
    ("stage.invite", {"participant_id": 0}), ("qa.answering", {"question_id": 0}),
    ("cafe.end", {}),
]


@pytest.fixture
async def pcs() -> AsyncIterator[list[RTCPeerConnection]]:
    made: list[RTCPeerConnection] = []
    yield made
    for pc in made:
        await pc.close()


def fill(payload: dict[str, Any], *, question: int, message: int, parent: int) -> dict[str, Any]:
    ids = {"question_id": question, "message_id": message, "participant_id": parent}
    return {k: ids.get(k, v) for k, v in payload.items()}


async def refused_everywhere(peer: Peer, *, question: int, message: int, parent: int) -> None:
    for event, payload in STAFF_ACTIONS:
        ack = await peer.call(event, fill(payload, question=question, message=message,
                                          parent=parent))
        assert ack["ok"] is False and ack["error"]["code"] == "forbidden", (event, ack)


async def test_revoking_takes_the_role_off_open_sockets_at_once(
        live: Live, pcs: list[RTCPeerConnection]) -> None:
    cafe = await make_cafe(live.cafes, live=True)
    email = await organiser(live.cafes)
    moderation = await live.cafes.invite(cafe.id, Role.MODERATOR)
    expertise = await live.cafes.invite(cafe.id, Role.EXPERT)
    key = browser_key()
    tab1, tab2, expert, parent = (await live.peer(), await live.peer(), await live.peer(),
                                  await live.peer())
    for tab in (tab1, tab2):
        assert (await tab.join(cafe, "Modo", invite=moderation.token,
                               browser_key=key))["participant"]["role"] == "moderator"
    await expert.join(cafe, "Dr Martin", invite=expertise.token)
    parent_id = (await parent.join(cafe, "Marie"))["participant"]["id"]
    assert (await publish_tone(expert, pcs))["ok"] is True
    await parent.next("media.tracks")
    assert (await parent.call("qa.ask", {"text": "Et le soir ?"}))["ok"] is True
    question = (await tab1.next("qa.question"))["id"]
    assert (await parent.call("chat.send", {"text": "Bonjour"}))["ok"] is True
    message = (await tab1.next("chat.message"))["id"]

    # Within a second of the revocation (the form's answer): `next` waits at most that.
    await revoke_over_http(live.url, email, cafe.slug, moderation.id)
    for tab in (tab1, tab2):
        notice = await tab.next("role.changed", wait=1)
        assert notice["role"] == "participant" and notice["reason"] == "revoked"
        assert "ban" not in notice["permissions"]
        assert notice["message"] == ("Votre invitation a été retirée\u00a0: vous participez "
                                     "désormais comme parent.")
    for tab in (tab1, tab2):
        await refused_everywhere(tab, question=question, message=message, parent=parent_id)
    assert (await tab1.call("chat.send", {"text": "Je reste en parent"}))["ok"] is True
    # No more staff views: a new pending question no longer reaches the former moderator.
    assert (await parent.call("qa.ask", {"text": "Et les jeux ?"}))["ok"] is True
    await asyncio.sleep(0.3)
    assert len(tab1.events["qa.question"]) == 1
    diff = await parent.presence_change(joined=tab1.me["id"])
    assert {"participant_id": tab1.me["id"], "pseudonym": "Modo",
            "role": "participant"} in diff["joined"]

    # The expert's publication stops and the café is told.
    await revoke_over_http(live.url, email, cafe.slug, expertise.id)
    assert (await expert.next("role.changed", wait=1))["reason"] == "revoked"
    assert (await expert.next("media.stopped"))["reason"] == "revoked"
    tracks = await parent.next("media.tracks", count=2)
    assert tracks["publishers"] == []
    assert (await publish_tone(expert, pcs))["error"]["code"] == "forbidden"
    assert (await expert.call("cafe.end", {}))["error"]["code"] == "forbidden"

    # Rejoining: no token, the same browser key -> a parent; the revoked link -> refused.
    assert (await tab1.call("leave", {}))["ok"] is True
    again = await tab1.join(cafe, "Modo", browser_key=key)
    assert again["participant"]["role"] == "participant"
    assert "ban" not in again["permissions"]
    assert (await tab1.call("leave", {}))["ok"] is True
    refused = await tab1.join(cafe, "Modo", browser_key=key, invite=moderation.token)
    assert refused["error"]["code"] == "bad_invitation"
    assert (await live.cafes.get(cafe.slug)).status.value == "live"


async def test_an_invitation_expiring_on_an_open_socket_loses_its_powers(
        live: Live, clock: FixedClock) -> None:
    cafe = await make_cafe(live.cafes, live=True)
    live.cafes.invitation_ttl = timedelta(hours=1)
    moderation = await live.cafes.invite(cafe.id, Role.MODERATOR)
    modo, parent = await live.peer(), await live.peer()
    key = browser_key()
    await modo.join(cafe, "Modo", invite=moderation.token, browser_key=key)
    parent_id = (await parent.join(cafe, "Marie"))["participant"]["id"]
    assert (await parent.call("qa.ask", {"text": "Et le soir ?"}))["ok"] is True
    question = (await modo.next("qa.question"))["id"]
    assert (await parent.call("chat.send", {"text": "Bonjour"}))["ok"] is True
    message = (await modo.next("chat.message"))["id"]

    clock.advance(3601)
    await refused_everywhere(modo, question=question, message=message, parent=parent_id)
    notice = await modo.next("role.changed")
    assert notice["reason"] == "expired" and notice["role"] == "participant"
    assert (await modo.call("leave", {}))["ok"] is True
    assert (await modo.join(cafe, "Modo", browser_key=key))["participant"]["role"] \
        == "participant"


async def test_the_expiry_time_ends_the_role_without_any_event(
        live: Live, clock: FixedClock) -> None:
    """The socket does nothing: its expiry timer fires and ends the role."""
    cafe = await make_cafe(live.cafes, live=True)
    live.cafes.invitation_ttl = timedelta(seconds=1)
    moderation = await live.cafes.invite(cafe.id, Role.MODERATOR)
    modo = await live.peer()
    await modo.join(cafe, "Modo", invite=moderation.token)
    clock.advance(2)
    notice = await modo.next("role.changed", wait=3)
    assert notice["reason"] == "expired"
