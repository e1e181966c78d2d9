"""A server restart during a live café loses nothing: the same browsers reconnect to a new
server process on the same database and see the same queue, votes, hands and chat."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestServer
from signaling_fixtures import Live, browser_key, invite, make_cafe

from server.app import create_app
from server.config import Config
from sessions.clock import FixedClock
from sessions.roles import Role


async def start(config: Config, clock: FixedClock) -> Live:
    server = TestServer(create_app(config, clock=clock))
    await server.start_server()
    return Live(server, server.app)


async def test_queue_votes_hands_and_chat_survive_a_restart(
    config: Config, clock: FixedClock
) -> None:
    keys = {"modo": browser_key(), "marie": browser_key(), "paul": browser_key()}
    first = await start(config, clock)
    try:
        cafe = await make_cafe(first.cafes, live=True)
        token = await invite(first.cafes, cafe, Role.MODERATOR)
        moderator, marie, paul = (await first.peer(), await first.peer(), await first.peer())
        await moderator.join(cafe, "Modo", invite=token, browser_key=keys["modo"])
        await marie.join(cafe, "Marie", browser_key=keys["marie"])
        await paul.join(cafe, "Paul", browser_key=keys["paul"])
        await marie.call("qa.ask", {"text": "Quel âge pour un premier téléphone ?"})
        await paul.call("qa.ask", {"text": "Et les réseaux sociaux au collège ?",
                                   "anonymous": True})
        first_q, second_q = [(await moderator.next("qa.question", count=n))["id"]
                             for n in (1, 2)]
        assert (await moderator.call("qa.approve", {"question_id": first_q}))["ok"]
        assert (await paul.call("qa.vote", {"question_id": first_q}))["ok"]
        assert (await marie.call("stage.raise_hand", {}))["ok"]
        assert (await paul.call("chat.send", {"text": "Bonsoir à tous"}))["ok"]
    finally:
        await first.close()
        await first.server.close()  # the process goes away: every socket drops

    second = await start(config, clock)
    try:
        moderator, marie, paul = (await second.peer(), await second.peer(),
                                  await second.peer())
        # The same browsers come back (no invitation link needed for the moderator's).
        mod_view: dict[str, Any] = await moderator.join(cafe, "Modo",
                                                        browser_key=keys["modo"])
        marie_view: dict[str, Any] = await marie.join(cafe, "Marie",
                                                      browser_key=keys["marie"])
        paul_view: dict[str, Any] = await paul.join(cafe, "Paul", browser_key=keys["paul"])
        assert mod_view["participant"]["role"] == "moderator"

        by_id = {q["id"]: q for q in mod_view["qa"]["questions"]}
        assert by_id[first_q]["status"] == "approved" and by_id[first_q]["votes"] == 1
        assert by_id[second_q]["status"] == "pending" and by_id[second_q]["author"] == "Paul"
        assert [h["pseudonym"] for h in mod_view["stage"]["hands"]] == ["Marie"]

        public = {q["id"]: q for q in marie_view["qa"]["questions"]}
        assert set(public) == {first_q}  # the pending question stays with moderators
        assert marie_view["stage"]["hand_raised"] is True
        assert [q["voted"] for q in paul_view["qa"]["questions"] if q["id"] == first_q] == [
            True]
        assert {q["id"] for q in paul_view["qa"]["questions"]} == {first_q, second_q}
        assert [m["text"] for m in paul_view["chat"]["messages"]] == ["Bonsoir à tous"]

        # The queue goes on where it stopped.
        assert (await moderator.call("qa.approve", {"question_id": second_q}))["ok"]
        assert (await marie.next("qa.question"))["author"] is None  # still anonymous
    finally:
        await second.close()
        await second.server.close()
