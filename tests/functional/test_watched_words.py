"""Watched words on the real app: the café's list on top of its organiser's default list
(SQLite and PostgreSQL), and what each action does to a question, a chat message and a
pseudonym through real sockets."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import sqlalchemy as sa
from qa_support import join, make_cafe, services
from signaling_fixtures import Live, invite, login_cookie
from signaling_fixtures import make_cafe as make_live_cafe

from server.auth import create_organiser
from server.keys import SERVICES
from sessions.clock import FixedClock
from sessions.errors import InvalidInput, InvalidTransition
from sessions.events import Audience
from sessions.roles import Role
from sessions.service_watch import WatchService
from sessions.storage.database import Database
from sessions.storage.tables import associations, cafes, chat_messages, participants, questions
from sessions.watchwords import MAX_TERMS, WatchAction


async def _association(db: Database, clock: FixedClock, slug: str) -> int:
    async with db.transaction() as conn:
        return int((await conn.execute(sa.insert(associations).values(
            slug=slug, name=slug.title(), created_at=clock.now(),
        ).returning(associations.c.id))).scalar_one())


async def test_lists_default_then_cafe(db: Database, clock: FixedClock) -> None:
    watch = WatchService(db, clock)
    cafe = await make_cafe(db, clock)
    # No association list yet: the shipped French list holds a phone number.
    assert (await watch.verdict(cafe, "06 12 34 56 78")).action is WatchAction.HOLD
    association = await _association(db, clock, "parents")
    other = await _association(db, clock, "autres")
    async with db.transaction() as conn:
        await conn.execute(sa.update(cafes).where(cafes.c.id == cafe).values(
            association_id=association))
    await watch.save_default_list(association, "idiot | flag\n@email\n")
    assert "idiot | flag" in await watch.default_list(association)
    assert "idiot" not in await watch.default_list(other)  # another association's
    assert (await watch.verdict(cafe, "06 12 34 56 78")).action is None  # their own list now
    assert (await watch.verdict(cafe, "Un IDIOT")).action is WatchAction.FLAG
    await watch.save_cafe_list(cafe, "idiot | block\nécrans | flag")
    assert (await watch.verdict(cafe, "un idiot")).action is WatchAction.BLOCK
    assert (await watch.verdict(cafe, "les ECRANS")).action is WatchAction.FLAG
    assert (await watch.verdict(cafe, "a@b.fr")).action is WatchAction.HOLD
    with pytest.raises(InvalidInput):
        await watch.save_cafe_list(cafe, "\n".join(f"mot{i}" for i in range(MAX_TERMS + 1)))
    assert "écrans" in await watch.cafe_list(cafe)  # the refused list changed nothing
    second = await make_cafe(db, clock)
    assert await watch.cafe_list(second) == ""


async def test_question_and_chat_actions(db: Database, clock: FixedClock) -> None:
    cafe = await make_cafe(db, clock)
    alice = await join(db, clock, cafe, "Alice")
    mod = await join(db, clock, cafe, "Modo", Role.MODERATOR)
    svc = services(db, clock)
    await svc.qa.watch.save_cafe_list(cafe, "crétin | block\nécrans | flag")

    with pytest.raises(InvalidInput) as refused:
        await svc.qa.ask(alice, "Quel CRETIN a dit ça ?")
    assert refused.value.params == {"terms": "crétin"}
    events = await svc.qa.ask(alice, "Mon numéro : 06 12 34 56 78, rappelez-moi")
    staff = next(e for e in events if e.audience is Audience.MODERATORS)
    assert staff.payload["status"] == "pending"
    assert staff.payload["watch"] == {"action": "hold", "terms": ["@telephone"]}
    assert all("watch" not in e.payload for e in events if e.audience is not Audience.MODERATORS)
    async with db.connect() as conn:
        assert await conn.scalar(sa.select(sa.func.count()).select_from(questions)) == 1

    with pytest.raises(InvalidInput):
        await svc.moderation.send_chat(alice, "crétin")
    flagged = await svc.moderation.send_chat(alice, "Les écrans le soir")
    assert {e.audience for e in flagged} == {Audience.CAFE, Audience.MODERATORS}
    held = await svc.moderation.send_chat(alice, "écrivez-moi : alice@example.org")
    assert {(e.audience, e.participant_id) for e in held} == {
        (Audience.MODERATORS, None), (Audience.PARTICIPANT, alice.participant_id)}
    held_id = held[0].payload["id"]
    assert held[0].payload["held"] is True and held[0].payload["watch"]["action"] == "hold"

    bob = await join(db, clock, cafe, "Bob")
    seen = [m["text"] for m in (await svc.moderation.chat_snapshot(bob))["messages"]]
    assert seen == ["Les écrans le soir"]  # not the held one
    own = (await svc.moderation.chat_snapshot(alice))["messages"]
    assert [m.get("held", False) for m in own] == [False, True]
    staff_view = (await svc.moderation.chat_snapshot(mod))["messages"]
    assert staff_view[0]["watch"] == {"action": "flag", "terms": ["écrans"]}

    released = await svc.moderation.release_chat(mod, held_id)
    assert [e.audience for e in released] == [Audience.CAFE, Audience.MODERATORS]
    assert "held" not in released[0].payload
    with pytest.raises(InvalidTransition):
        await svc.moderation.release_chat(mod, held_id)
    seen = [m["text"] for m in (await svc.moderation.chat_snapshot(bob))["messages"]]
    assert seen == ["Les écrans le soir", "écrivez-moi : alice@example.org"]
    async with db.connect() as conn:
        assert await conn.scalar(sa.select(sa.func.count()).select_from(chat_messages)
                                 .where(chat_messages.c.held == sa.true())) == 0


async def test_sockets_hold_release_and_pseudonyms(live: Live) -> None:
    cafe = await make_live_cafe(live.cafes, live=True)
    moderator = await live.peer()
    await moderator.join(cafe, "Modo", invite=await invite(live.cafes, cafe, Role.MODERATOR))
    marie, paul = await live.peer(), await live.peer()
    await marie.join(cafe, "Marie")
    await paul.join(cafe, "Paul")

    refused = await (await live.peer()).join(cafe, "Appelle 06 12 34 56 78")
    assert refused["error"]["code"] == "invalid_input"
    assert "Choisissez-en un autre" in refused["error"]["message"]
    refused = await (await live.peer()).join(cafe, "SALOPE")
    assert refused["error"]["code"] == "invalid_input"

    assert (await marie.call("chat.send", {"text": "Mon 06 12 34 56 78"}))["ok"] is True
    held = await moderator.next("chat.message")
    assert held["held"] is True and held["watch"]["terms"] == ["@telephone"]
    assert (await marie.next("chat.message"))["held"] is True
    forbidden = await paul.call("chat.release", {"message_id": held["id"]})
    assert forbidden["error"]["code"] == "forbidden"
    await asyncio.sleep(0.2)
    assert "chat.message" not in paul.events  # held: the audience never saw it

    assert (await moderator.call("chat.release", {"message_id": held["id"]}))["ok"] is True
    public = await paul.next("chat.message")
    assert public["id"] == held["id"] and "held" not in public
    again = await moderator.call("chat.release", {"message_id": held["id"]})
    assert again["error"]["code"] == "invalid_state"

    assert (await marie.call("qa.ask", {"text": "écrivez à marie@example.org"}))["ok"]
    pending = await moderator.next("qa.question")
    assert pending["watch"] == {"action": "hold", "terms": ["@email"]}
    await asyncio.sleep(0.2)
    assert "qa.question" not in paul.events


def _marks(events: list[Any]) -> list[Any]:
    """Every `watch` mark in presence payloads (join ack lists or `presence.changed`)."""
    entries = [e for payload in events for e in (
        payload if isinstance(payload, list) else payload["joined"])]
    return [e["watch"] for e in entries if "watch" in e]


async def test_flagged_pseudonym_is_marked_for_moderators_only(live: Live) -> None:
    """A pseudonym a *flag* word matches gets in, marked in the presence the moderators and
    organisers receive (live and in their join snapshot), never in the audience's, nor in
    what the participant gets; *hold* and *block* refuse it, naming only their own words."""
    cafe = await make_live_cafe(live.cafes, live=True)
    await live.app[SERVICES].watch.save_cafe_list(
        cafe.id, "nounours | flag\ncrétin | block\nrappelle-moi | hold")
    organiser_id = await create_organiser(live.cafes, "orga@example.org", "Claire",
                                          "correct horse battery")
    cookie = await login_cookie(live.app, organiser_id)
    organiser = await live.peer(headers={"Cookie": f"causerie_session={cookie}"})
    assert (await organiser.join(cafe, "ignored"))["participant"]["role"] == "organiser"
    moderator = await live.peer()
    await moderator.join(cafe, "Modo", invite=await invite(live.cafes, cafe, Role.MODERATOR))
    expert = await live.peer()
    await expert.join(cafe, "Dr Martin", invite=await invite(live.cafes, cafe, Role.EXPERT))
    paul = await live.peer()
    await paul.join(cafe, "Paul")

    flagged, key = await live.peer(), "flagged-browser-0001"
    ack = await flagged.join(cafe, "Gros NOUNOURS", browser_key=key)
    assert ack["ok"] is True, ack
    fid = ack["participant"]["id"]
    assert "watch" not in ack["participant"] and not _marks([ack["presence"]])

    for staff in (moderator, organiser):
        diff = await staff.presence_change(joined=fid)
        entry = next(e for e in diff["joined"] if e["participant_id"] == fid)
        assert entry["watch"] == {"action": "flag", "terms": ["nounours"]}
        assert entry["pseudonym"] == "Gros NOUNOURS"
    for audience in (paul, expert, flagged):
        await audience.presence_change(joined=fid)
    await asyncio.sleep(0.5)  # any second copy would have arrived by now
    for audience in (paul, expert, flagged):
        assert not _marks(audience.events["presence.changed"])
    for staff in (moderator, organiser):  # one copy each, the marked one
        assert [e["participant_id"] for d in staff.events["presence.changed"]
                for e in d["joined"]].count(fid) == 1

    # Who joins later: a moderator's snapshot marks the participant, a parent's does not.
    second = await live.peer()
    snapshot = (await second.join(cafe, "Modo 2", invite=await invite(
        live.cafes, cafe, Role.MODERATOR)))["presence"]
    assert [e.get("watch") for e in snapshot if e["participant_id"] == fid] == [
        {"action": "flag", "terms": ["nounours"]}]
    assert [e for e in snapshot if "watch" in e and e["participant_id"] != fid] == []
    late = await live.peer()
    assert not _marks([(await late.join(cafe, "Léa"))["presence"]])

    # The same browser coming back under a plain pseudonym is no longer marked.
    assert (await flagged.call("leave", {}))["ok"] is True
    await moderator.presence_change(left=fid)
    seen = len(moderator.events["presence.changed"])
    assert (await flagged.join(cafe, "Lucie", browser_key=key))["participant"]["id"] == fid
    back = await moderator.next("presence.changed", count=seen + 1)
    assert [e for e in back["joined"] if e["participant_id"] == fid] == [
        {"participant_id": fid, "pseudonym": "Lucie", "role": "participant"}]

    # Hold and block refuse the pseudonym; the message names the refusing word only.
    for name, word in (("Nounours crétin", "crétin"), ("Nounours rappelle-moi", "rappelle-moi"),
                       ("Appelle 06 12 34 56 78", "@telephone")):
        refused = await (await live.peer()).join(cafe, name)
        assert refused["error"]["code"] == "invalid_input", refused
        assert word in refused["error"]["message"]
        assert "nounours" not in refused["error"]["message"].casefold()
    async with live.cafes.db.connect() as conn:
        names = set(await conn.scalars(sa.select(participants.c.pseudonym)))
    assert not any("crétin" in n or "rappelle" in n or "06 12" in n for n in names)
