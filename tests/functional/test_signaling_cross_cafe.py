"""Staff of one café never act on another café's participants, questions or messages
(finding 7 of issue 8). Generated from the protocol's event table: every event whose
message names a target id is sent by café B's staff with the ids of café A."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

from signaling_fixtures import Live, Peer, invite, make_cafe

from server.keys import SERVICES
from sessions.actors import Actor
from sessions.roles import Role
from signaling.namespace import EVENTS

TARGET_FIELDS = {"participant_id", "question_id", "message_id", "into"}
FILLERS: dict[str, Any] = {"text": "Texte de remplacement", "reason": "", "muted": True,
                           "anonymous": False}
TARGETED = sorted(name for name, spec in EVENTS.items()
                  if TARGET_FIELDS & spec.model.model_fields.keys())


def test_the_targeted_events_are_found() -> None:
    assert {"stage.lower_hand", "qa.merge", "chat.hide", "moderation.ban"} <= set(TARGETED)


def payloads(event: str, ids: dict[str, list[int]], own: dict[str, int]) -> list[dict[str, Any]]:
    """Every payload of `event` with café A's ids in its target fields (and, for two
    targets, café A's id in one and café B's own id in the other)."""
    fields = EVENTS[event].model.model_fields
    targets = [f for f in fields if f in TARGET_FIELDS]
    kind = {"participant_id": "participant", "question_id": "question", "into": "question",
            "message_id": "message"}
    made = []
    for choice in itertools.product(*(ids[kind[f]] + [own[kind[f]]] for f in targets)):
        if all(value == own[kind[f]] for f, value in zip(targets, choice, strict=True)):
            continue  # café B's own ids only: not the case under test
        if len(set(choice)) < len(choice):
            continue  # a question merged into itself: refused before any lookup
        payload = {f: FILLERS[f] for f in fields if f in FILLERS and fields[f].is_required()}
        payload |= dict(zip(targets, choice, strict=True))
        made.append(payload)
    return made


async def a_state(live: Live, cafe_id: int) -> Any:
    services = live.app[SERVICES]
    viewer = Actor(0, cafe_id, Role.ORGANISER, "test")
    return (await services.qa.snapshot(viewer), await services.stage.snapshot(viewer),
            await services.moderation.chat_snapshot(viewer))


async def test_cafe_b_staff_cannot_touch_cafe_a(live: Live) -> None:
    a, b = await make_cafe(live.cafes, live=True), await make_cafe(live.cafes, live=True)
    # café A: a parent with a raised hand, one on stage, a pending and an approved question,
    # a chat message
    a_modo, a_raised, a_speaker = await live.peer(), await live.peer(), await live.peer()
    await a_modo.join(a, "Modo A", invite=await invite(live.cafes, a, Role.MODERATOR))
    raised = (await a_raised.join(a, "Léa"))["participant"]["id"]
    speaker = (await a_speaker.join(a, "Paul"))["participant"]["id"]
    for peer in (a_raised, a_speaker):
        assert (await peer.call("stage.raise_hand", {}))["ok"]
    assert (await a_modo.call("stage.invite", {"participant_id": speaker}))["ok"]
    assert (await a_speaker.call("stage.accept", {}))["ok"]
    assert (await a_raised.call("qa.ask", {"text": "Et le soir ?"}))["ok"]
    assert (await a_speaker.call("qa.ask", {"text": "Et le matin ?"}))["ok"]
    pending, approved = (await a_modo.next("qa.question"))["id"], None
    approved = (await a_modo.next("qa.question", count=2))["id"]
    assert (await a_modo.call("qa.approve", {"question_id": approved}))["ok"]
    assert (await a_raised.call("chat.send", {"text": "Bonjour"}))["ok"]
    message = (await a_modo.next("chat.message"))["id"]

    # café B: its moderator and its expert, with ids of their own
    b_modo, b_expert, b_parent = await live.peer(), await live.peer(), await live.peer()
    await b_modo.join(b, "Modo B", invite=await invite(live.cafes, b, Role.MODERATOR))
    await b_expert.join(b, "Expert B", invite=await invite(live.cafes, b, Role.EXPERT))
    own_parent = (await b_parent.join(b, "Zoé"))["participant"]["id"]
    assert (await b_parent.call("qa.ask", {"text": "Une question de B"}))["ok"]
    own_question = (await b_modo.next("qa.question"))["id"]
    assert (await b_parent.call("chat.send", {"text": "Salut"}))["ok"]
    own_message = (await b_modo.next("chat.message"))["id"]

    await asyncio.sleep(0.4)
    a_peers: list[Peer] = [a_modo, a_raised, a_speaker]
    seen = [{k: len(v) for k, v in p.events.items()} for p in a_peers]
    before = await a_state(live, a.id)
    ids = {"participant": [raised, speaker], "question": [pending, approved],
           "message": [message]}
    own = {"participant": own_parent, "question": own_question, "message": own_message}
    tried = 0
    for event in TARGETED:
        for payload in payloads(event, ids, own):
            for actor in (b_modo, b_expert):
                ack = await actor.call(event, payload)
                await asyncio.sleep(0.06)  # under the per-connection event rate
                tried += 1
                assert ack["ok"] is False, (event, payload, ack)
                assert ack["error"]["code"] in {"not_found", "forbidden"}, (event, payload, ack)
    assert tried > 50
    await asyncio.sleep(0.4)
    assert [{k: len(v) for k, v in p.events.items()} for p in a_peers] == seen
    assert await a_state(live, a.id) == before
    async with live.cafes.db.connect() as conn:
        audit_b = await live.app[SERVICES].moderation.repo.audit_entries(conn, b.id, limit=50,
                                                                         offset=0)
    assert audit_b == []
