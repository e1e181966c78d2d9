"""Q&A, stage, chat and moderation through the socket: each audience gets its own view."""

from __future__ import annotations

import asyncio

from signaling_fixtures import Live, Peer, invite, make_cafe

from sessions.cafe import Cafe
from sessions.roles import Role


async def _room(live: Live) -> tuple[Cafe, Peer, Peer, Peer]:
    cafe = await make_cafe(live.cafes, live=True)
    moderator = await live.peer()
    ack = await moderator.join(cafe, "Modo", invite=await invite(live.cafes, cafe,
                                                                  Role.MODERATOR))
    assert ack["participant"]["role"] == "moderator"
    marie, paul = await live.peer(), await live.peer()
    await marie.join(cafe, "Marie")
    await paul.join(cafe, "Paul")
    return cafe, moderator, marie, paul


async def test_question_reaches_moderators_then_everyone_once_approved(live: Live) -> None:
    _cafe, moderator, marie, paul = await _room(live)
    asked = await marie.call("qa.ask", {"text": "Quel âge pour un téléphone ?",
                                        "anonymous": True})
    assert asked == {"ok": True}
    pending = await moderator.next("qa.question")
    assert pending["status"] == "pending" and pending["author"] == "Marie"
    mine = await marie.next("qa.question")
    assert mine["mine"] is True
    await asyncio.sleep(0.1)
    assert "qa.question" not in paul.events  # the audience never sees pending questions

    denied = await paul.call("qa.approve", {"question_id": pending["id"]})
    assert denied["error"]["code"] == "forbidden"
    approved = await moderator.call("qa.approve", {"question_id": pending["id"]})
    assert approved["ok"] is True
    public = await paul.next("qa.question")
    assert public["status"] == "approved"
    assert public["author"] is None  # anonymous to the audience
    assert (await moderator.next("qa.question", count=2))["author"] == "Marie"
    assert (await marie.next("qa.question", count=2))["author"] == "Marie"
    await asyncio.sleep(0.1)
    assert len(marie.events["qa.question"]) == 2  # the author is excluded from the public copy

    assert (await paul.call("qa.vote", {"question_id": pending["id"]}))["ok"] is True
    assert (await paul.next("qa.votes")) == {"id": pending["id"], "votes": 1, "voted": True}
    assert (await marie.next("qa.votes")) == {"id": pending["id"], "votes": 1}

    again = await live.peer()
    snapshot = await again.join(_cafe, "Late")
    assert [q["id"] for q in snapshot["qa"]["questions"]] == [pending["id"]]


async def test_stage_chat_and_removal(live: Live) -> None:
    _cafe, moderator, marie, paul = await _room(live)
    assert (await marie.call("stage.raise_hand"))["ok"] is True
    hands = await moderator.next("stage.hands")
    assert [h["pseudonym"] for h in hands["hands"]] == ["Marie"]
    assert (await moderator.call("stage.invite",
                                 {"participant_id": marie.me["id"]}))["ok"] is True
    assert (await marie.next("stage.invitation")) == {"heard_by": "everyone",
                                                      "recorded": True}
    # Declining is not an error: the hand goes down, the staff read that she declined.
    assert (await marie.call("stage.decline"))["ok"] is True
    assert (await moderator.next("stage.declined")) == {"participant_id": marie.me["id"],
                                                        "pseudonym": "Marie"}
    assert (await marie.call("stage.decline"))["error"]["code"] == "invalid_state"
    assert (await marie.call("stage.raise_hand"))["ok"] is True
    assert (await moderator.call("stage.invite",
                                 {"participant_id": marie.me["id"]}))["ok"] is True
    assert (await marie.call("stage.accept", {"leave_out": True}))["ok"] is True
    assert (await marie.next("stage.invited")) == {"publish": ["microphone"]}
    speakers = await paul.next("stage.changed")
    assert [s["pseudonym"] for s in speakers["speakers"]] == ["Marie"]
    assert (await moderator.call("stage.send_back",
                                 {"participant_id": marie.me["id"]}))["ok"] is True
    await marie.next("stage.dismissed")

    assert (await paul.call("chat.send", {"text": "Bonjour à tous"}))["ok"] is True
    message = await marie.next("chat.message")
    assert message["text"] == "Bonjour à tous" and message["author"] == "Paul"
    assert (await moderator.call("chat.hide", {"message_id": message["id"]}))["ok"] is True
    assert (await marie.next("chat.hidden")) == {"id": message["id"]}

    removed = await moderator.call("moderation.ban", {"participant_id": paul.me["id"]})
    assert removed["ok"] is True
    assert (await paul.next("moderation.removed")) == {"banned": True}
    await asyncio.wait_for(paul.disconnected.wait(), 5)
    await marie.presence_change(left=paul.me["id"])
    notice = await moderator.next("moderation.participant_removed")
    assert notice == {"participant_id": paul.me["id"], "banned": True}
