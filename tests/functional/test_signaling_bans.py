"""What a ban does, said truthfully (finding 12 of issue 8): a ban bars one browser; a short
ban by address bars every connection from that Internet address for 30 minutes, keeping the
address only that long and never logging it; an organiser's ban of a member of the staff
revokes their invitation, on every browser that used it."""

from __future__ import annotations

import asyncio
import logging

import pytest
import sqlalchemy as sa
from signaling_fixtures import Live, browser_key, invite, login_cookie, make_cafe

from server.auth import create_organiser
from sessions.clock import FixedClock
from sessions.roles import Role
from sessions.storage.tables import address_bans, audit_log


async def address_rows(live: Live) -> list[dict[str, object]]:
    async with live.cafes.db.connect() as conn:
        rows = await conn.execute(sa.select(address_bans))
        return [dict(r._mapping) for r in rows]


async def test_a_ban_bars_this_browser_only(live: Live) -> None:
    cafe = await make_cafe(live.cafes, live=True)
    modo, marie = await live.peer(), await live.peer()
    await modo.join(cafe, "Modo", invite=await invite(live.cafes, cafe, Role.MODERATOR))
    key = browser_key()
    marie_id = (await marie.join(cafe, "Marie", browser_key=key))["participant"]["id"]
    assert (await modo.call("moderation.ban", {"participant_id": marie_id}))["ok"] is True
    await asyncio.wait_for(marie.disconnected.wait(), 5)
    again = await live.peer()
    assert (await again.join(cafe, "Marie", browser_key=key))["error"]["code"] == "banned"
    # What the confirmation now says: another browser gets in.
    other = await live.peer()
    assert (await other.join(cafe, "Marie", browser_key=browser_key()))["ok"] is True
    assert await address_rows(live) == []


async def test_a_short_ban_by_address(live: Live, clock: FixedClock,
                                      caplog: pytest.LogCaptureFixture) -> None:
    cafe = await make_cafe(live.cafes, live=True)
    modo, marie = await live.peer(), await live.peer()
    await modo.join(cafe, "Modo", invite=await invite(live.cafes, cafe, Role.MODERATOR))
    marie_id = (await marie.join(cafe, "Marie"))["participant"]["id"]
    with caplog.at_level(logging.DEBUG, logger="causerie"):
        ack = await modo.call("moderation.ban", {"participant_id": marie_id,
                                                 "by_address": True})
        assert ack["ok"] is True
        await asyncio.wait_for(marie.disconnected.wait(), 5)
        [row] = await address_rows(live)
        assert row["address"] == "127.0.0.1" and row["participant_id"] == marie_id
        # every connection from that address, whatever the browser, for 30 minutes
        newcomer = await live.peer()
        refused = await newcomer.join(cafe, "Quelqu’un", browser_key=browser_key())
        assert refused["error"] == {
            "code": "banned",
            "message": "Les connexions depuis votre adresse Internet sont refusées dans ce "
                       "café pour un court moment."}
    # the address is written in no log line
    assert not [r for r in caplog.records if "127.0.0.1" in r.getMessage()]
    async with live.cafes.db.connect() as conn:
        detail = (await conn.execute(sa.select(audit_log.c.detail)
                                     .where(audit_log.c.action == "participant.ban"))).scalar()
    assert detail is not None and detail["address_minutes"] == 30
    assert "127.0.0.1" not in str(detail)
    # another café is not concerned
    other_cafe = await make_cafe(live.cafes, title="Jeux vidéo", live=True)
    assert (await (await live.peer()).join(other_cafe, "Léa"))["ok"] is True

    clock.advance(30 * 60 + 1)
    back = await live.peer()
    assert (await back.join(cafe, "Quelqu’un", browser_key=browser_key()))["ok"] is True
    # the ban is over: its address is forgotten (deleted) when the next one is recorded
    assert (await modo.call("moderation.ban",
                            {"participant_id": back.me["id"], "by_address": True}))["ok"]
    await asyncio.wait_for(back.disconnected.wait(), 5)
    [fresh] = await address_rows(live)
    assert fresh["participant_id"] == back.me["id"]


async def test_an_organiser_bans_a_moderator_by_invitation(live: Live) -> None:
    cafe = await make_cafe(live.cafes, live=True)
    organiser_id = await create_organiser(live.cafes, "orga@example.org", "Claire",
                                          "correct horse battery staple")
    cookie = await login_cookie(live.app, organiser_id)
    orga = await live.peer(headers={"Cookie": f"causerie_session={cookie}"})
    assert (await orga.join(cafe, "ignored"))["participant"]["role"] == "organiser"
    link = await live.cafes.invite(cafe.id, Role.MODERATOR)
    laptop, phone = await live.peer(), await live.peer()  # one link, two browsers
    laptop_id = (await laptop.join(cafe, "Modo", invite=link.token))["participant"]["id"]
    assert (await phone.join(cafe, "Modo bis", invite=link.token))["ok"] is True

    assert (await orga.call("moderation.ban", {"participant_id": laptop_id}))["ok"] is True
    await asyncio.wait_for(laptop.disconnected.wait(), 5)
    notice = await phone.next("role.changed", wait=1)
    assert notice["reason"] == "revoked"
    assert (await phone.call("moderation.remove", {"participant_id": laptop_id}))["error"][
        "code"] == "forbidden"
    newcomer = await live.peer()
    assert (await newcomer.join(cafe, "X", invite=link.token))["error"]["code"] \
        == "bad_invitation"
    assert (await live.cafes.invitations(cafe.id))[0].revoked
