"""The attendance peak through the real app and real socket.io clients, on both databases:
parents join and leave (one with two tabs), staff and a demoted moderator do not count, the
peak is stored while the café is live (by the recorder's timer, not a write per join) and
exactly at its end, and the association's figures page and CSV show it."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import aiohttp
import pytest
import sqlalchemy as sa
from association_support import Side, make_side
from revocation_support import organiser, revoke_over_http
from signaling_fixtures import Live, Peer, browser_key, invite

from server.config import Config, load_config
from server.keys import DATABASE
from sessions.attendance import PeakPolicy
from sessions.clock import FixedClock
from sessions.roles import Role
from sessions.storage.tables import cafes
from signaling.keys import HUB


@pytest.fixture
def config(tmp_path: Path, database_url: str) -> Config:
    """The app of `tests/conftest.py` on both databases."""
    return load_config(data_dir=tmp_path / "var", database_url=database_url,
                       secret_key="test-secret-key-0123456789-abcdefghijklmnop",
                       ice={"host_addresses": ["127.0.0.1"]})


async def stored_peak(live: Live, cafe_id: int) -> int | None:
    async with live.app[DATABASE].connect() as conn:
        value = (await conn.execute(sa.select(cafes.c.peak_parents)
                                    .where(cafes.c.id == cafe_id))).scalar_one()
    return None if value is None else int(value)


async def wait_stored(live: Live, cafe_id: int, expected: int, wait: float = 5) -> None:
    deadline = asyncio.get_running_loop().time() + wait
    while (found := await stored_peak(live, cafe_id)) != expected:
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"stored peak {found}, expected {expected}")
        await asyncio.sleep(0.05)


async def parent(live: Live, side: Side, name: str, key: str | None = None) -> Peer:
    peer = await live.peer()
    ack = await peer.join(side.cafe, name, browser_key=key or browser_key())
    assert ack["ok"] is True, ack
    return peer


async def test_parents_join_and_leave_and_the_stored_peak_is_right(
        live: Live, clock: FixedClock) -> None:
    hub = live.app[HUB]
    hub.peaks.policy = PeakPolicy(step=100, interval=0.3)
    side = await make_side(live.app, clock, None, live=True)
    cafe_id = side.cafe.id
    moderator = await live.peer()
    assert (await moderator.join(side.cafe, "Modo",
                                 invite=await invite(live.cafes, side.cafe, Role.MODERATOR)))["ok"]
    await asyncio.sleep(0.4)
    assert await stored_peak(live, cafe_id) is None  # staff only: nothing recorded yet

    marie_key = browser_key()
    marie = await parent(live, side, "Marie", marie_key)
    await parent(live, side, "Marie", marie_key)  # her second tab: the same parent
    paul, jeanne = await parent(live, side, "Paul"), await parent(live, side, "Jeanne")
    await wait_stored(live, cafe_id, 3)  # written while live, by the timer
    await paul.close()
    await jeanne.close()
    await moderator.presence_change(left=jeanne.me["id"])
    await marie.close()  # one of her two tabs: she is still there
    await parent(live, side, "Luc")
    await parent(live, side, "Ana")  # Marie, Luc, Ana: three present, the peak stays
    await asyncio.sleep(0.5)
    assert await stored_peak(live, cafe_id) == 3
    await parent(live, side, "Léo")  # four at once
    assert await hub.presence.peak(cafe_id) == 4
    writes = hub.peaks.writes
    assert (await moderator.call("cafe.end", {}))["ok"] is True
    # the end writes the peak at once, even if the timer had not yet
    assert await stored_peak(live, cafe_id) == 4
    assert hub.peaks.writes <= writes + 1
    assert await hub.presence.peak(cafe_id) == 0  # nothing kept after the café

    status, html = await _get(live, f"/admin/associations/{side.association.slug}/figures",
                              side)
    assert status == 200
    row = html.split('id="figures-cafes"')[1].split("</tr>")[1]
    cells = re.findall(r"<td>([^<]*)</td>", row)
    assert cells[1:3] == ["4", "6"], cells  # peak 4 · parents who joined 6 (Marie once)
    assert "pas une somme" in html
    status, body = await _get(live, f"/admin/associations/{side.association.slug}/figures.csv",
                              side)
    header, line = body.strip().splitlines()[:2]
    assert header.split(",")[5:7] == ["peak_parents", "parents"]
    assert line.split(",")[5:7] == ["4", "6"]


async def _get(live: Live, path: str, side: Side) -> tuple[int, str]:
    async with aiohttp.ClientSession() as http, http.get(
            live.url.rstrip("/") + path, headers=side.headers) as response:
        return response.status, await response.text()


async def test_a_join_storm_costs_a_few_writes_and_staff_do_not_count(
        live: Live, clock: FixedClock) -> None:
    """Forty parents join at once beside an expert and a moderator, with the default policy:
    the first parent is written at once, the rest by the timer or the end, never a write
    per join; a moderator whose invitation is revoked stays as a parent, not counted."""
    hub = live.app[HUB]
    side = await make_side(live.app, clock, None, live=True)
    cafe_id = side.cafe.id
    email = await organiser(live.cafes)
    invitation = await live.cafes.invite(cafe_id, Role.MODERATOR)
    expert, moderator = await live.peer(), await live.peer()
    assert (await expert.join(side.cafe, "Expert",
                              invite=await invite(live.cafes, side.cafe, Role.EXPERT)))["ok"]
    assert (await moderator.join(side.cafe, "Modo", invite=invitation.token))["ok"]
    peers = [await live.peer() for _ in range(40)]
    acks = await asyncio.gather(*(p.join(side.cafe, f"Parent {i}")
                                  for i, p in enumerate(peers)))
    assert all(a["ok"] for a in acks)
    assert await hub.presence.peak(cafe_id) == 40
    assert hub.peaks.writes <= 2  # the first parent at once; the timer's after 5 s
    await wait_stored(live, cafe_id, 1, wait=1)  # the first one, at once

    await revoke_over_http(live.url, email, side.cafe.slug, invitation.id)
    notice = await moderator.next("role.changed", wait=2)
    assert notice["role"] == "participant" and notice["left"] is False
    for peer in peers[:10]:
        await peer.close()
    await expert.presence_change(left=peers[9].me["id"])
    extra = [await parent(live, side, f"Later {i}") for i in range(10)]
    assert await hub.presence.peak(cafe_id) == 40  # 30 + 10: the moderator not counted
    extra.append(await parent(live, side, "One more"))
    assert await hub.presence.peak(cafe_id) == 41
    assert (await expert.call("cafe.end", {}))["ok"] is True
    assert await stored_peak(live, cafe_id) == 41
    assert hub.peaks.writes <= 4


async def test_a_cafe_ended_with_staff_only_stores_zero(live: Live, clock: FixedClock) -> None:
    side = await make_side(live.app, clock, None, live=True)
    expert = await live.peer()
    assert (await expert.join(side.cafe, "Expert",
                              invite=await invite(live.cafes, side.cafe, Role.EXPERT)))["ok"]
    assert (await expert.call("cafe.end", {}))["ok"] is True
    assert await stored_peak(live, side.cafe.id) == 0
