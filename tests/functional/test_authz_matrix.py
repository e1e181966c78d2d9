"""The authorisation matrix: every socket.io event x every kind of caller x café state, over
real socket.io clients against the real app.

The expected ack of each cell is computed from two tables, never written by hand per cell:
the permission table (`sessions.roles.PERMISSIONS`) and `VARIANTS` below, one entry (or
more, for an event with several forms) per event of the protocol, saying which permission it
needs and how to make a payload that would succeed. `test_every_event_has_a_matrix_entry`
fails the day an event is added without its entry. Where the cell must be refused, every
stored row of the café is compared before and after.

The rules the expectations encode (signaling/protocol.md and issue 8):
- an ended café has no joined socket: every event but `join` gets `not_joined`;
- a café that is not live admits only the roles with `join_before_live`; a role without
  `join_live` (a viewer) is never admitted;
- a revoked or expired invitation ends its staff role on an open socket within a second
  (`role.changed`): the socket is a parent from then on (`forbidden` for staff actions), and
  out of a café that does not admit parents yet; rejoining without the link never gives the
  staff role back;
- a stored role other than parent comes back only with a valid invitation: a browser stored
  as a viewer joins as a parent;
- a banned participant's open socket gets nothing more done (`banned`);
- a removed participant may come back, as a participant;
- staff of another café get `not_found` for every id of this café, and this café's rows do
  not change whatever they do;
- an organiser of another association, logged in, is a parent in this association's café:
  `forbidden` for every staff action, refused before the café is live (issue 12);
- `leave` and `media.unpublish` only take powers away: anyone joined may send them.
"""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestServer
from authz_world import ROLES, STATES, Prepare, Slot, World, publisher_offer, snapshot

from server.app import create_app
from server.auth import create_organiser
from server.config import load_config
from server.keys import CAFES, DATABASE
from sessions.actors import Actor
from sessions.clock import FixedClock
from sessions.roles import Permission, Role, allows
from signaling.messages import EVENT_MODELS
from signaling.namespace import EVENTS

P = Permission


# -- the events ----------------------------------------------------------------------------


def _const(payload: dict[str, Any]) -> Prepare:
    async def prepare(_w: World, _s: Slot) -> tuple[dict[str, Any], str]:
        return payload, "ok"

    return prepare


def _question(status: str, key: str = "question_id", **extra: Any) -> Prepare:
    async def prepare(w: World, _s: Slot) -> tuple[dict[str, Any], str]:
        return {key: await w.question(status), **extra}, "ok"

    return prepare


def acting(s: Slot, state: str) -> Actor | None:
    """The caller as the server should now see it (a revoked moderator is a parent), where
    it is joined."""
    if s.actor is None or not joined(s.role, state):
        return None
    return dataclasses.replace(s.actor, role=ROLE_OF[s.role])


async def _withdraw(w: World, s: Slot) -> tuple[dict[str, Any], str]:
    """The caller's own pending question where it may ask, else someone else's."""
    me = acting(s, w.state)
    own = me if me is not None and allows(me.role, P.ASK_QUESTION) and s.role != "banned" \
        else None
    return {"question_id": await w.question("pending", own)}, "ok"


async def _merge(w: World, _s: Slot) -> tuple[dict[str, Any], str]:
    return {"question_id": await w.question(), "into": await w.question()}, "ok"


async def _hand(w: World, _s: Slot) -> tuple[dict[str, Any], str]:
    await w.clear_stage()
    return {"participant_id": (await w.hand()).participant_id}, "ok"


async def _speaker(w: World, _s: Slot) -> tuple[dict[str, Any], str]:
    return {"participant_id": (await w.speaker()).participant_id}, "ok"


async def _mute(w: World, _s: Slot) -> tuple[dict[str, Any], str]:
    return {"participant_id": (await w.speaker()).participant_id, "muted": True}, "ok"


def _may_raise(w: World, s: Slot) -> Actor | None:
    me = acting(s, w.state)
    if me is None or s.role == "banned" or not allows(me.role, P.RAISE_HAND):
        return None
    return me


async def _own_hand(w: World, s: Slot) -> tuple[dict[str, Any], str]:
    me = _may_raise(w, s)
    if me is not None:
        await w.hand(me)
    return {}, "ok"


async def _own_stage(w: World, s: Slot) -> tuple[dict[str, Any], str]:
    """Leaving the stage: ok for a caller on stage, `invalid_state` for one who is not."""
    me = _may_raise(w, s)
    if me is not None:
        await w.speaker(me)
        return {}, "ok"
    return {}, "invalid_state"


async def _own_invitation(w: World, s: Slot) -> tuple[dict[str, Any], str]:
    """Answering an invitation: ok for a caller invited on stage, `invalid_state` for one
    who may not raise a hand (never invited)."""
    me = _may_raise(w, s)
    if me is not None:
        await w.invited(me)
        return {}, "ok"
    return {}, "invalid_state"


async def _chat_message(w: World, _s: Slot) -> tuple[dict[str, Any], str]:
    return {"message_id": await w.chat_message()}, "ok"


async def _held_message(w: World, _s: Slot) -> tuple[dict[str, Any], str]:
    return {"message_id": await w.chat_message(held=True)}, "ok"


def _report(kind: str) -> Prepare:
    async def prepare(w: World, _s: Slot) -> tuple[dict[str, Any], str]:
        return {"kind": kind, "target_id": await w.report_target(kind),
                "reason": "harassment", "note": "Il insiste."}, "ok"

    return prepare


async def _open_report(w: World, _s: Slot) -> tuple[dict[str, Any], str]:
    return {"report_id": await w.report(), "resolution": "none"}, "ok"


async def _parent(w: World, _s: Slot) -> tuple[dict[str, Any], str]:
    return {"participant_id": (await w.parent()).participant_id}, "ok"


async def _offer(w: World, _s: Slot) -> tuple[dict[str, Any], str]:
    return {"sdp": w.offer_sdp, "type": "offer"}, "ok"


async def _answer(w: World, s: Slot) -> tuple[dict[str, Any], str]:
    sdp = await w.subscriber_answer(s) if acting(s, w.state) is not None else None
    return {"sdp": sdp or w.offer_sdp.replace("a=sendonly", "a=recvonly"),
            "type": "answer"}, "ok"


def _lifecycle(live_ok: bool) -> Prepare:
    async def prepare(w: World, _s: Slot) -> tuple[dict[str, Any], str]:
        return {}, "ok" if (w.state == "live") == live_ok else "invalid_state"

    return prepare


@dataclass(frozen=True)
class Variant:
    """One form of one event: what it needs and how to make a payload that would work."""

    name: str
    event: str
    permission: Permission | None
    prepare: Prepare
    # It names a question, message or participant: another café's staff must get not_found.
    targets: bool = False
    # It only takes powers away (anyone joined may).
    harmless: bool = False
    # When it succeeds it changes the café (the world is remade) or its own socket.
    remakes: str = ""


V = Variant
VARIANTS: tuple[Variant, ...] = (
    V("qa.ask", "qa.ask", P.ASK_QUESTION, _const({"text": "Comment parler des écrans ?"})),
    V("qa.withdraw", "qa.withdraw", P.ASK_QUESTION, _withdraw, targets=True),
    V("qa.vote", "qa.vote", P.VOTE, _question("approved"), targets=True),
    V("qa.unvote", "qa.unvote", P.VOTE, _question("approved"), targets=True),
    V("qa.approve", "qa.approve", P.MODERATE_QUESTIONS, _question("pending"), targets=True),
    V("qa.reject", "qa.reject", P.MODERATE_QUESTIONS,
      _question("pending", reason="Hors sujet"), targets=True),
    V("qa.edit", "qa.edit", P.MODERATE_QUESTIONS,
      _question("pending", text="Une question revue ?"), targets=True),
    V("qa.merge", "qa.merge", P.MODERATE_QUESTIONS, _merge, targets=True),
    V("qa.answering", "qa.answering", P.ANSWER_QUESTIONS, _question("approved"), targets=True),
    V("qa.answered", "qa.answered", P.ANSWER_QUESTIONS, _question("approved"), targets=True),
    V("qa.requeue", "qa.requeue", P.ANSWER_QUESTIONS, _question("answering"), targets=True),
    V("stage.raise_hand", "stage.raise_hand", P.RAISE_HAND, _const({})),
    V("stage.lower_hand:own", "stage.lower_hand", P.RAISE_HAND, _own_hand),
    V("stage.lower_hand:other", "stage.lower_hand", P.MANAGE_STAGE, _hand, targets=True),
    V("stage.invite", "stage.invite", P.MANAGE_STAGE, _hand, targets=True),
    V("stage.accept", "stage.accept", P.RAISE_HAND, _own_invitation),
    V("stage.decline", "stage.decline", P.RAISE_HAND, _own_invitation),
    V("stage.leave_out", "stage.leave_out", P.RAISE_HAND, _own_stage),
    V("stage.send_back:own", "stage.send_back", None, _own_stage),
    V("stage.send_back:other", "stage.send_back", P.MANAGE_STAGE, _speaker, targets=True),
    V("stage.mute", "stage.mute", P.MUTE, _mute, targets=True),
    V("chat.send", "chat.send", P.CHAT, _const({"text": "Bonjour à tous"})),
    V("chat.hide", "chat.hide", P.HIDE_CHAT, _chat_message, targets=True),
    V("chat.release", "chat.release", P.HIDE_CHAT, _held_message, targets=True),
    V("moderation.remove", "moderation.remove", P.REMOVE, _parent, targets=True),
    V("moderation.ban", "moderation.ban", P.BAN, _parent, targets=True),
    V("report.create:question", "report.create", P.REPORT, _report("question"), targets=True),
    V("report.create:chat", "report.create", P.REPORT, _report("chat"), targets=True),
    V("report.create:participant", "report.create", P.REPORT, _report("participant"),
      targets=True),
    V("report.resolve", "report.resolve", P.HANDLE_REPORTS, _open_report, targets=True),
    V("media.publish", "media.publish", P.PUBLISH_MICROPHONE, _offer),
    V("media.unpublish", "media.unpublish", None, _const({}), harmless=True),
    V("media.subscribe", "media.subscribe", P.SUBSCRIBE_MEDIA, _const({})),
    V("media.answer", "media.answer", P.SUBSCRIBE_MEDIA, _answer),
    # the forms of join, each on a fresh socket with the caller's credentials
    V("join", "join", None, _const({})),
    V("join:without-link", "join", None, _const({})),
    # last: they change the café or take the socket out
    V("cafe.open", "cafe.open", P.OPEN_CAFE, _lifecycle(live_ok=False), remakes="world"),
    V("cafe.end", "cafe.end", P.END_CAFE, _lifecycle(live_ok=True), remakes="world"),
    V("leave", "leave", None, _const({}), harmless=True, remakes="slot"),
)
BY_NAME = {v.name: v for v in VARIANTS}

# Who each caller is in the permission table, once admitted.
ROLE_OF = {"organiser": Role.ORGANISER, "expert": Role.EXPERT, "moderator": Role.MODERATOR,
           "participant": Role.PARTICIPANT, "viewer": Role.PARTICIPANT,
           "never_joined": Role.PARTICIPANT, "other_cafe_staff": Role.MODERATOR,
           "other_association_staff": Role.PARTICIPANT,
           "removed": Role.PARTICIPANT, "banned": Role.PARTICIPANT,
           "revoked": Role.PARTICIPANT, "expired": Role.PARTICIPANT}
LINKED = ("expert", "moderator", "other_cafe_staff", "revoked", "expired")


# -- the expectations ----------------------------------------------------------------------


def expected_join(variant: Variant, role: str, state: str) -> tuple[str, Role | None]:
    """The ack code of a fresh socket joining with this caller's credentials, and the role
    it joins as."""
    as_role = ROLE_OF[role]
    if role in ("revoked", "expired", "other_cafe_staff") and variant.name == "join":
        return "bad_invitation", None
    if role == "other_cafe_staff":  # without its link, café B's moderator is a parent here
        as_role = Role.PARTICIPANT
    if state == "ended":
        return "forbidden", None
    if state == "scheduled" and not allows(as_role, P.JOIN_BEFORE_LIVE):
        return "forbidden", None
    if role == "banned":
        return "banned", None
    if not allows(as_role, P.JOIN_LIVE):
        return "forbidden", None
    return "ok", as_role


def joined(role: str, state: str) -> bool:
    """Is this caller's socket joined to its café when the cells run?"""
    if state == "ended" or role == "never_joined":
        return False
    return state == "live" or allows(ROLE_OF[role], P.JOIN_BEFORE_LIVE)


def expected(variant: Variant, role: str, state: str, ok_code: str) -> str:
    """The ack code of this cell (`ok_code`: what the payload gets where it is allowed)."""
    if variant.event == "join":
        return expected_join(variant, role, state)[0]
    if not joined(role, state):
        return "not_joined"
    if variant.harmless:
        return "ok"
    as_role = ROLE_OF[role]
    if variant.permission is not None and not allows(as_role, variant.permission):
        return "forbidden"
    if role == "banned":
        return "banned"
    if role == "other_cafe_staff" and variant.targets:
        return "not_found"
    return ok_code


# -- the world -----------------------------------------------------------------------------


@dataclass
class Worlds:
    server: TestServer
    app: Any
    organiser_id: int
    offer_sdp: str
    by_state: dict[str, World]

    async def get(self, state: str) -> World:
        world = self.by_state.get(state)
        if world is None or world.stale:
            if world is not None:
                await world.close()
            world = World(str(self.server.make_url("/")), self.app, state, self.organiser_id,
                          self.offer_sdp)
            await world.build()
            self.by_state[state] = world
        return world


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def worlds(tmp_path_factory: pytest.TempPathFactory,
                 sqlite_template: Any) -> AsyncIterator[Worlds]:
    import shutil

    tmp = tmp_path_factory.mktemp("authz")
    shutil.copyfile(sqlite_template, tmp / "causerie.db")
    config = load_config(
        data_dir=tmp / "var", database_url=f"sqlite+aiosqlite:///{tmp / 'causerie.db'}",
        secret_key=secrets.token_urlsafe(32), ice={"host_addresses": ["127.0.0.1"]},
        limits={"events_per_second": 1000, "questions_per_minute": 100,
                "votes_per_second": 100, "chat_per_minute": 600,
                "reports_per_minute": 600})
    app = create_app(config, clock=FixedClock())
    server = TestServer(app)
    await server.start_server()
    organiser_id = await create_organiser(app[CAFES], "orga@example.org", "Claire",
                                          "correct horse battery staple")
    sdp, pc = await publisher_offer()
    made = Worlds(server, app, organiser_id, sdp, {})
    yield made
    for world in made.by_state.values():
        await world.close()
    await pc.close()
    await server.close()


CELLS = [(state, variant.name, role) for state in STATES for variant in VARIANTS
         for role in ROLES]


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize(("state", "variant", "role"), CELLS)
async def test_matrix(worlds: Worlds, state: str, variant: str, role: str) -> None:
    v = BY_NAME[variant]
    world = await worlds.get(state)
    slot = await world.slot(role)
    payload, ok_code = await v.prepare(world, slot)
    want = expected(v, role, state, ok_code)
    # Where it must be refused (and whatever another café's staff do), no row may change.
    unchanged = want != "ok" or (role == "other_cafe_staff" and v.event != "join")
    before = await snapshot(world.app[DATABASE], world.cafe.id) if unchanged else None
    peer = slot.peer
    if v.event == "join":
        payload = dict(slot.join_payload)
        if v.name == "join:without-link":
            payload.pop("invite", None)
        if role == "never_joined":
            payload["browser_key"] = secrets.token_hex(16)
        payload["cafe"] = world.cafe.slug
        peer = await world.fresh_peer(slot)
    ack = await peer.call(v.event, payload)
    got = "ok" if ack.get("ok") else ack.get("error", {}).get("code")
    if peer is not slot.peer:
        await peer.close()
    if got == "ok" and v.remakes == "world" and role != "other_cafe_staff":
        world.stale = True
    elif got == "ok" and v.remakes:
        slot.stale = True
    if got == "ok" and v.event == "media.publish":
        await slot.peer.call("media.unpublish", {})
    assert got == want, f"{variant} by {role} in a {state} café: {ack}"
    if before is not None:
        after = await snapshot(world.app[DATABASE], world.cafe.id)
        assert after == before, f"{variant} by {role} changed the café's rows"
    if v.event == "join" and want == "ok":
        assert ack["participant"]["role"] == expected_join(v, role, state)[1]


def test_every_event_has_a_matrix_entry() -> None:
    """A new event is in the matrix the day it is added (and the typed messages agree)."""
    assert set(EVENTS) == set(EVENT_MODELS)
    assert {v.event for v in VARIANTS} == set(EVENTS)
    assert set(ROLE_OF) == set(ROLES)
