"""Client events named like socket.io's own connection events (finding 2 of issue 8) are
refused: they never reset a socket's identity nor take it out of presence."""

from __future__ import annotations

import asyncio
import logging

import pytest
from signaling_fixtures import Live, invite, make_cafe

from sessions.roles import Role
from signaling.namespace import EVENTS, RESERVED_EVENTS


def test_no_protocol_event_uses_a_reserved_name() -> None:
    assert not RESERVED_EVENTS & EVENTS.keys()


@pytest.mark.parametrize("name", sorted(RESERVED_EVENTS))
async def test_a_reserved_name_is_refused_and_changes_nothing(
        live: Live, name: str, caplog: pytest.LogCaptureFixture) -> None:
    cafe = await make_cafe(live.cafes, live=True)
    watcher, marie = await live.peer(), await live.peer()
    await watcher.join(cafe, "Watcher")
    joined = await marie.join(cafe, "Marie")
    marie_id = joined["participant"]["id"]
    await watcher.presence_change(joined=marie_id)

    with caplog.at_level(logging.INFO):
        for payload in ({}, {"aiohttp.request": 1}, "x", [1, 2]):
            ack = await marie.call(name, payload)
            assert ack["ok"] is False and ack["error"]["code"] == "unknown_event", ack
        await marie.client.emit(name)  # no payload, no ack: must not raise on the server
        await marie.client.emit(name, {"x": 1})
        assert (await marie.call(name))["error"]["code"] == "unknown_event"
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"

    # Same identity, still in presence, still in the café's rooms.
    assert (await marie.call("join", {"cafe": cafe.slug, "pseudonym": "Marie",
                                      "browser_key": "b" * 20}))["error"]["code"] \
        == "already_joined"
    assert (await marie.call("chat.send", {"text": "toujours là"}))["ok"] is True
    await watcher.next("chat.message")
    await asyncio.sleep(0.4)  # past the presence batch
    assert marie_id not in watcher.presence_ids("left")


async def test_a_fake_disconnect_does_not_escape_a_ban(live: Live) -> None:
    """Before: `emit("disconnect")` took the socket out of presence and the ban, which
    disconnects the sockets still tracked, left it in the café's rooms."""
    cafe = await make_cafe(live.cafes, live=True)
    token = await invite(live.cafes, cafe, Role.MODERATOR)
    moderator, marie = await live.peer(), await live.peer()
    await moderator.join(cafe, "Modo", invite=token)
    marie_id = (await marie.join(cafe, "Marie"))["participant"]["id"]
    await marie.client.emit("disconnect")
    await asyncio.sleep(0.3)
    ack = await moderator.call("moderation.ban", {"participant_id": marie_id})
    assert ack["ok"] is True
    await asyncio.wait_for(marie.disconnected.wait(), 5)
    assert marie.events["moderation.removed"] == [{"banned": True}]
