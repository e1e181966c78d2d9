"""Nothing personal in the logs (issue 11, point 6): a whole café on the real app (organiser
login, joining, questions, chat, the stage with a declined and an accepted invitation,
moderation, a ban by address, refused inputs, search) with every logger open at INFO; no
record holds a pseudonym, a question or chat text, a reason, an e-mail, a password, a search
or the client's Internet address. The server runs with `serve`'s access log
(`server.logs.access_log_options`): one line per request, without address or query."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientSession, CookieJar, web
from log_support import capture_everything
from signaling_fixtures import Live, Peer, invite, make_cafe

from server.app import create_app
from server.auth import create_organiser
from server.config import load_config
from server.keys import CAFES
from server.logs import ACCESS_LOGGER, access_log_options
from sessions.clock import FixedClock
from sessions.roles import Role

ADDRESS = "127.0.0.1"  # where every test client connects from
SECRETS = {
    "pseudonyms": ["Bleuet-Marie", "Tilleul-Paul", "Zephyrin-Troll", "Modo-Azalee",
                   "Docteure-Quenouille"],
    "texts": ["Mon fils Ezechiel recoit des insultes", "Ezechiel au college Pasteur",
              "Bonjour Cassiopee", "message de Cassiopee a cacher", "hors sujet Orthodoxe",
              "recherche Quincaillerie"],
    "account": ["orga.discrete@example.org", "mot-de-passe-Hirondelle"],
}


@pytest.fixture
def app(tmp_path: Path, sqlite_url: str, clock: FixedClock) -> web.Application:
    config = load_config(data_dir=tmp_path / "var", database_url=sqlite_url,
                         secret_key="s" * 48, ice={"host_addresses": [ADDRESS]})
    return create_app(config, clock=clock)


async def _http(url: str, app: web.Application) -> None:
    """The organiser logs in (a wrong password first), reads the café's pages; a viewer
    searches."""
    email, password = SECRETS["account"]
    await create_organiser(app[CAFES], email, "Orga", password)
    async with ClientSession(cookie_jar=CookieJar(unsafe=True)) as http:
        for attempt in ("wrong-" + password, password):
            page = await (await http.get(f"{url}login")).text()
            token = page.split('name="csrf_token" value="')[1].split('"')[0]
            await http.post(f"{url}login", data={"email": email, "password": attempt,
                                                 "csrf_token": token, "next": "/admin"})
        assert (await http.get(f"{url}admin")).status == 200
        await http.get(f"{url}search", params={"q": SECRETS["texts"][5]})
        await http.get(f"{url}api/search", params={"q": SECRETS["texts"][5]})


async def _question_with(peer: Peer, text: str) -> int:
    for _ in range(50):
        found = [q["id"] for q in peer.events["qa.question"] if q["text"] == text]
        if found:
            return int(found[0])
        await asyncio.sleep(0.1)
    raise AssertionError(f"no question {text!r}")


async def test_a_whole_cafe_logs_ids_only(aiohttp_server: Any, app: web.Application) -> None:
    marie_name, paul_name, troll_name, modo_name, expert_name = SECRETS["pseudonyms"]
    ask, edited, chat, hidden, reason, _search = SECRETS["texts"]
    with capture_everything(logging.INFO) as logs:
        server = await aiohttp_server(app, **access_log_options())
        live = Live(server, app)
        try:
            url = live.url
            await _http(url, app)
            cafe = await make_cafe(live.cafes, live=True)
            modo, expert, marie, paul, troll = [await live.peer() for _ in range(5)]
            assert (await modo.join(cafe, modo_name, invite=await invite(
                live.cafes, cafe, Role.MODERATOR)))["ok"]
            assert (await expert.join(cafe, expert_name, invite=await invite(
                live.cafes, cafe, Role.EXPERT)))["ok"]
            for peer, name in ((marie, marie_name), (paul, paul_name), (troll, troll_name)):
                assert (await peer.join(cafe, name))["ok"]
            # refused inputs carry the text too: a pseudonym with a control character, a
            # question past its bound
            refused = await (await live.peer()).join(cafe, marie_name + "\u202e")
            assert refused["error"]["code"] == "invalid_input"
            assert (await marie.call("qa.ask", {"text": ask * 40}))["error"]["code"] == (
                "invalid_input")

            assert (await marie.call("qa.ask", {"text": ask, "anonymous": True}))["ok"]
            question = (await modo.next("qa.question"))["id"]
            assert (await modo.call("qa.edit", {"question_id": question, "text": edited}))["ok"]
            assert (await modo.call("qa.approve", {"question_id": question}))["ok"]
            assert (await expert.call("qa.answering", {"question_id": question}))["ok"]
            assert (await paul.call("qa.ask", {"text": reason + " ?"}))["ok"]
            other = await _question_with(modo, reason + " ?")
            assert (await modo.call("qa.reject", {"question_id": other,
                                                  "reason": reason}))["ok"]

            assert (await paul.call("chat.send", {"text": chat}))["ok"]
            assert (await troll.call("chat.send", {"text": hidden}))["ok"]
            await modo.next("chat.message", count=2)
            [message] = [m["id"] for m in modo.events["chat.message"] if m["text"] == hidden]
            assert (await modo.call("chat.hide", {"message_id": message}))["ok"]

            assert (await marie.call("stage.raise_hand"))["ok"]
            assert (await modo.call("stage.invite", {"participant_id": marie.me["id"]}))["ok"]
            assert (await marie.call("stage.decline"))["ok"]
            assert (await marie.call("stage.raise_hand"))["ok"]
            assert (await modo.call("stage.invite", {"participant_id": marie.me["id"]}))["ok"]
            assert (await marie.call("stage.accept", {"leave_out": True}))["ok"]
            assert (await modo.call("stage.mute", {"participant_id": marie.me["id"]}))["ok"]
            assert (await modo.call("stage.send_back",
                                    {"participant_id": marie.me["id"]}))["ok"]

            assert (await modo.call("moderation.remove",
                                    {"participant_id": paul.me["id"]}))["ok"]
            assert (await modo.call("moderation.ban", {"participant_id": troll.me["id"],
                                                       "by_address": True}))["ok"]
            await asyncio.wait_for(troll.disconnected.wait(), 5)
            again = await (await live.peer()).join(cafe, troll_name)
            assert again["error"]["code"] == "banned"
            await marie.call("leave")
        finally:
            await live.close()
            await server.close()

    lines = logs.lines()
    # The capture saw the scenario: the access log, the stage, the ban, refused events.
    assert any(line.startswith(f"{ACCESS_LOGGER} INFO GET /cafes/") or
               line.startswith(f"{ACCESS_LOGGER} INFO GET /search") for line in lines), lines
    for seen in ("address banned cafe=", "stage change cafe=", "event refused event=",
                 "login organiser=", "login refused"):
        assert any(seen in line for line in lines), (seen, lines)
    found = [(secret, line) for line in lines for secret in
             [ADDRESS, *(s for group in SECRETS.values() for s in group)]
             if secret.lower() in line.lower()]
    assert not found, found
