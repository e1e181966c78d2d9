"""Joining, presence, the café lifecycle and the error acks, with real socket.io clients
over websocket against the real app."""

from __future__ import annotations

import asyncio

from signaling_fixtures import Live, invite, login_cookie, make_cafe, session_cookie

from server.keys import CONFIG
from sessions.roles import Role


async def test_guest_joins_a_live_cafe_and_sees_presence(live: Live) -> None:
    cafe = await make_cafe(live.cafes, live=True)
    marie = await live.peer()
    ack = await marie.join(cafe, "Marie")
    assert ack["ok"] is True
    assert ack["participant"]["role"] == "participant"
    assert ack["cafe"]["status"] == "live"
    assert [p["pseudonym"] for p in ack["presence"]] == ["Marie"]
    assert "ask_question" in ack["permissions"]
    assert ack["qa"] == {"questions": []}
    assert ack["stage"]["on_stage"] is False
    assert ack["ice_servers"] == []

    paul = await live.peer()
    ack2 = await paul.join(cafe, "Paul")
    assert [p["pseudonym"] for p in ack2["presence"]] == ["Marie", "Paul"]
    paul_id = ack2["participant"]["id"]
    diff = await marie.presence_change(joined=paul_id)
    assert {"participant_id": paul_id, "pseudonym": "Paul",
            "role": "participant"} in diff["joined"]
    assert diff["left"] == []

    await paul.close()
    diff = await marie.presence_change(left=paul_id)
    assert diff == {"joined": [], "left": [paul_id], "count": 1}


async def test_same_browser_twice_is_one_presence(live: Live) -> None:
    cafe = await make_cafe(live.cafes, live=True)
    key = "k" * 20
    watcher = await live.peer()
    await watcher.join(cafe, "Watcher")
    tab1, tab2 = await live.peer(), await live.peer()
    a1 = await tab1.join(cafe, "Marie", browser_key=key)
    a2 = await tab2.join(cafe, "Marie", browser_key=key)
    assert a1["participant"]["id"] == a2["participant"]["id"]
    marie_id = a1["participant"]["id"]
    await watcher.presence_change(joined=marie_id)
    await tab1.close()
    await asyncio.sleep(0.5)
    assert watcher.presence_ids("joined").count(marie_id) == 1
    assert marie_id not in watcher.presence_ids("left")
    assert (await tab2.call("leave", {}))["ok"] is True
    await watcher.presence_change(left=marie_id)
    # the socket may join again after leave
    assert (await tab2.join(cafe, "Marie", browser_key=key))["ok"] is True


async def test_invited_expert_joins_before_live_and_a_parent_is_refused(live: Live) -> None:
    cafe = await make_cafe(live.cafes)
    token = await invite(live.cafes, cafe, Role.EXPERT)
    expert = await live.peer()
    ack = await expert.join(cafe, "Dr Martin", invite=token)
    assert ack["ok"] is True
    assert ack["participant"]["role"] == "expert"
    assert "publish_camera" in ack["permissions"]
    assert ack["cafe"]["status"] == "scheduled"

    parent = await live.peer()
    refused = await parent.join(cafe, "Marie")
    assert refused == {"ok": False, "error": {"code": "forbidden",
                                               "message": refused["error"]["message"]}}
    assert refused["error"]["message"]  # translated (French by default)
    english = await parent.join(cafe, "Marie", lang="en")
    assert english["error"]["message"] == "This café has not started yet."
    forged = await parent.join(cafe, "Marie", invite="forged-token", lang="en")
    assert forged["error"]["code"] == "bad_invitation"


async def test_organiser_logged_in_joins_as_organiser(live: Live) -> None:
    from server.auth import create_organiser

    cafe = await make_cafe(live.cafes)
    organiser_id = await create_organiser(live.cafes, "orga@example.org", "Claire",
                                          "correct horse battery staple")
    forged = session_cookie(live.app[CONFIG].secret_key, organiser_id)  # no login record
    peer = await live.peer(headers={"Cookie": f"causerie_session={forged}"})
    assert (await peer.join(cafe, "ignored"))["error"]["code"] == "forbidden"  # not started
    cookie = await login_cookie(live.app, organiser_id)
    peer = await live.peer(headers={"Cookie": f"causerie_session={cookie}"})
    ack = await peer.join(cafe, "ignored")
    assert ack["ok"] is True, ack
    assert ack["participant"]["role"] == "organiser"
    assert ack["participant"]["pseudonym"] == "Claire"
    assert "stage" in ack and "hands" in ack["stage"]


async def test_open_then_end_the_cafe(live: Live) -> None:
    cafe = await make_cafe(live.cafes)
    token = await invite(live.cafes, cafe, Role.EXPERT)
    expert = await live.peer()
    await expert.join(cafe, "Dr Martin", invite=token)
    parent = await live.peer()
    assert (await parent.call("cafe.open", {}))["error"]["code"] == "not_joined"

    opened = await expert.call("cafe.open", {})
    assert opened["ok"] is True and opened["cafe"]["status"] == "live"
    assert (await expert.next("cafe.status"))["status"] == "live"
    again = await expert.call("cafe.open", {})
    assert again["error"]["code"] == "invalid_state"

    assert (await parent.join(cafe, "Marie"))["ok"] is True
    no = await parent.call("cafe.end", {})
    assert no["error"]["code"] == "forbidden"

    ended = await expert.call("cafe.end", {})
    assert ended["ok"] is True and ended["cafe"]["status"] == "ended"
    status = await parent.next("cafe.status")
    assert status["status"] == "ended" and status["ended_at"]
    after = await parent.call("qa.ask", {"text": "Encore là ?"})
    assert after["error"]["code"] == "not_joined"
    late = await live.peer()
    assert (await late.join(cafe, "Late"))["error"]["code"] == "forbidden"


async def test_error_acks(live: Live) -> None:
    cafe = await make_cafe(live.cafes, live=True)
    peer = await live.peer()
    before = await peer.call("qa.ask", {"text": "Bonjour"})
    assert before["ok"] is False and before["error"]["code"] == "not_joined"
    unknown = await peer.call("nope.nope", {})
    assert unknown["error"]["code"] == "unknown_event"

    extra = await peer.call("join", {"cafe": cafe.slug, "pseudonym": "M",
                                     "browser_key": "b" * 20, "admin": True, "lang": "en"})
    # the join failed, so its `lang` was not applied: the message is in the default language
    assert extra["error"]["code"] == "invalid_input" and "admin" in extra["error"]["message"]
    wrong_type = await peer.call("join", {"cafe": cafe.slug, "pseudonym": 3,
                                          "browser_key": "b" * 20})
    assert wrong_type["error"]["code"] == "invalid_input"
    not_object = await peer.call("join", "hello")
    assert not_object["error"]["code"] == "invalid_input"
    missing = await peer.call("join", {"cafe": cafe.slug})
    assert missing["error"]["code"] == "invalid_input"
    long_name = await peer.join(cafe, "x" * 41, lang="en")
    assert long_name["error"]["code"] == "invalid_input"
    assert "at most 40" in long_name["error"]["message"]
    no_cafe = await peer.join("no-such-cafe", "Marie")
    assert no_cafe["error"]["code"] == "not_found"

    assert (await peer.join(cafe, "Marie"))["ok"] is True
    twice = await peer.join(cafe, "Marie")
    assert twice["error"]["code"] == "already_joined"
    huge = await peer.call("media.publish", {"sdp": "v=0\r\n" + "a" * 30_000})
    assert huge["error"]["code"] in {"payload_too_large", "forbidden"}
    big_text = await peer.call("qa.ask", {"text": "q" * 6000})
    assert big_text["error"]["code"] == "invalid_input"
    bad_id = await peer.call("qa.vote", {"question_id": "1"})
    assert bad_id["error"]["code"] == "invalid_input"
    negative = await peer.call("qa.vote", {"question_id": -1})
    assert negative["error"]["code"] == "invalid_input"


async def test_flood_gets_error_acks_then_a_disconnection(live: Live) -> None:
    cafe = await make_cafe(live.cafes, live=True)
    peer = await live.peer()
    assert (await peer.join(cafe, "Marie"))["ok"] is True
    limit = 20  # limits.events_per_second
    results = await asyncio.gather(
        *(peer.call("stage.lower_hand", {}, wait=5) for _ in range(limit + 5)),
        return_exceptions=True)
    codes = [r["error"]["code"] if isinstance(r, dict) and not r["ok"] else "ok"
             for r in results]
    assert codes.count("rate_limited") >= 4, codes
    others = await asyncio.gather(
        *(peer.call("stage.lower_hand", {}, wait=2) for _ in range(limit)),
        return_exceptions=True)
    assert any(isinstance(r, Exception) for r in others) or peer.disconnected.is_set()
    await asyncio.wait_for(peer.disconnected.wait(), 5)
