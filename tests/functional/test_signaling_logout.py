"""An organiser's open socket loses the organiser role when the login behind it ends: a
logout, a password change (every login of the organiser), or a login ended elsewhere (an
operator's reset, another process), which holds at the socket's next event. Real server,
a real browser's cookie jar over HTTP, real socket.io clients."""

from __future__ import annotations

import asyncio
from typing import Any

from page_support import PASSWORD
from signaling_fixtures import Live, Peer, make_cafe
from test_login_sessions import EMAIL, Browser

from server.auth import create_organiser, reset_password
from server.login_sessions import LOGIN_STORE

# a staff action that changes nothing here: allowed (`not_found`) or refused (`forbidden`)
STAFF_ACTION: tuple[str, dict[str, Any]] = ("qa.approve", {"question_id": 999_999})


async def organiser_socket(live: Live, browser: Browser, *, live_cafe: bool = True) -> Peer:
    assert await browser.login() == 303
    cafe = await make_cafe(live.cafes, live=live_cafe)
    peer = await live.peer(headers={"Cookie": f"causerie_session={browser.cookie()}"})
    ack = await peer.join(cafe, "ignored")
    assert ack["ok"] and ack["participant"]["role"] == "organiser", ack
    assert (await peer.call(*STAFF_ACTION))["error"]["code"] == "not_found"
    return peer


async def assert_parent_now(peer: Peer, *, left: bool = False) -> None:
    changed = await peer.next("role.changed", wait=1)  # within a second
    assert changed["role"] == "participant" and changed["reason"] == "logged_out"
    assert changed["left"] is left
    assert "organisateur" in changed["message"]  # French first
    refused = await peer.call(*STAFF_ACTION)
    assert refused["error"]["code"] == ("not_joined" if left else "forbidden"), refused


async def test_logout_ends_the_organiser_role_on_open_sockets(live: Live) -> None:
    await create_organiser(live.cafes, EMAIL, "Claire", PASSWORD)
    browser = Browser(live.url)
    try:
        peer = await organiser_socket(live, browser)
        parent = await live.peer()
        assert (await parent.join((await live.cafes.portal()).live[0], "Marie"))["ok"]
        assert await browser.post("/logout") == 303
        await assert_parent_now(peer)
        # the café shows the new role; the stored role is a parent's too
        await asyncio.sleep(0.5)  # presence changes go out at most every 0.3 s
        roles = [e["role"] for diff in parent.events["presence.changed"]
                 for e in diff["joined"] if e["pseudonym"] == "Claire"]
        assert roles and roles[-1] == "participant", parent.events["presence.changed"]
        assert (await peer.call("chat.send", {"text": "Bonjour"}))["ok"] is True
    finally:
        await browser.close()


async def test_password_change_ends_the_organiser_role_on_open_sockets(live: Live) -> None:
    await create_organiser(live.cafes, EMAIL, "Claire", PASSWORD)
    browser, phone = Browser(live.url), Browser(live.url)
    try:
        on_phone = await organiser_socket(live, phone)
        assert await browser.login() == 303
        assert await browser.post("/admin/password", current=PASSWORD,
                                  new="a new long password") == 303
        await assert_parent_now(on_phone)
    finally:
        await browser.close()
        await phone.close()


async def test_a_login_ended_elsewhere_holds_at_the_next_event(live: Live) -> None:
    """An operator's reset (`causerie admin password`, another process): no room is
    closed here, the socket's next event finds the login gone."""
    await create_organiser(live.cafes, EMAIL, "Claire", PASSWORD)
    browser = Browser(live.url)
    try:
        peer = await organiser_socket(live, browser)
        await reset_password(live.cafes, live.app[LOGIN_STORE], EMAIL, "another long password")
        refused = await peer.call(*STAFF_ACTION)
        assert refused["error"]["code"] == "forbidden", refused
        assert (await peer.next("role.changed"))["reason"] == "logged_out"
    finally:
        await browser.close()


async def test_logout_before_the_opening_leaves_the_cafe(live: Live) -> None:
    """A café not open yet admits no parent: the socket leaves it."""
    await create_organiser(live.cafes, EMAIL, "Claire", PASSWORD)
    browser = Browser(live.url)
    try:
        peer = await organiser_socket(live, browser, live_cafe=False)
        assert await browser.post("/logout") == 303
        await assert_parent_now(peer, left=True)
    finally:
        await browser.close()
