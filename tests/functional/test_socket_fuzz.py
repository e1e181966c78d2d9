"""Property-based fuzzing (hypothesis) of every socket.io event's payload (issue 8's standing
check): random JSON shapes, wrong types, huge strings, unicode oddities, unknown and reserved
event names, from callers of every kind. Whatever is sent, the ack is `{ok: true, ...}` or an
error whose code is one `signaling/protocol.md` documents (never `error`), the server logs no
traceback nor error, and a refused event changes no stored row of the café.

One real app, a live café and its sockets serve all the examples (hypothesis reruns the
body; what an accepted example changes carries over, so each compares the rows before and
after itself, and the room is mended when an example ended the café or removed a socket).
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from authz_world import CAFE_TABLES, acted_on
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import event as note_outcome
from hypothesis import strategies as st
from log_support import ServerErrors, capture_server_errors
from signaling_fixtures import Live, Peer, invite, login_cookie, make_cafe

from server.auth import create_organiser
from server.config import Config, load_config
from server.keys import CAFES, DATABASE, SERVICES
from sessions.actors import Actor
from sessions.cafe import Cafe, CafeStatus
from sessions.roles import Role
from sessions.storage.tables import votes
from signaling.keys import HUB
from signaling.messages import EVENT_MODELS

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
PROTOCOL = Path(__file__).resolve().parents[2] / "signaling" / "protocol.md"
# The error codes the protocol documents (its table of codes), less the unexpected one.
DOCUMENTED = frozenset(re.findall(r"^\| `([a-z_]+)` \|", PROTOCOL.read_text(), re.M)) - {
    "error"}
CALLERS = ("organiser", "expert", "moderator", "participant", "never_joined")


def fuzz(examples: int) -> settings:
    return settings(
        max_examples=examples, deadline=timedelta(seconds=20), derandomize=IN_CI,
        database=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                               HealthCheck.too_slow])


# -- payloads ------------------------------------------------------------------------------

odd_text = st.sampled_from([
    "", " ", "\x00", "\u2028", "\u2029", "\u0301" * 8, "\u202e", "\ufeff", "\U0001f600" * 50,
    "é" * 161, "<script>alert(1)</script>", "%(field)s", "{0}", "\ud800", "a\udfffb",
    "v=0\r\n", "null", "NaN",
])
# Up to past the widest bound (an SDP's 200,000 characters) but under engine.io's 1 MB frame:
# a bigger frame is the transport's business (it hangs up), not an event's.
huge = st.integers(0, 210_000).map(lambda n: "v" * n)
leaf = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.integers(-3, 60),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=60), odd_text,
)
json_value = st.recursive(
    leaf, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                  st.dictionaries(st.text(max_size=12), inner, max_size=4)),
    max_leaves=12)
# One field at most carries a huge string (`sdp`), so a payload stays under the 1 MB frame.
long_text = st.integers(0, 6000).map(lambda n: "é" * n)
field_value = st.one_of(leaf, json_value, long_text, st.integers(1, 40))


CAFE = "<the room's café>"  # replaced by its slug when sent
ids = st.integers(1, 40)
words = st.one_of(odd_text, st.text(max_size=80), st.integers(0, 6000).map(lambda n: "é" * n))
# Values each field could well carry, so that examples get past the schema to the services.
PLAUSIBLE: dict[str, st.SearchStrategy[Any]] = {
    "cafe": st.one_of(st.just(CAFE), st.text(max_size=90)),
    "pseudonym": words, "text": words, "invite": words,
    "reason": st.one_of(words, st.sampled_from(["harassment", "spam", "other", "Spam"])),
    "browser_key": st.text(alphabet="abcXYZ019-", min_size=14, max_size=66),
    "lang": st.sampled_from(["fr", "en", "de", "", "FR"]),
    "question_id": ids, "into": ids, "participant_id": st.one_of(ids, st.none()),
    "message_id": ids, "muted": st.booleans(), "anonymous": st.booleans(),
    "by_address": st.booleans(), "leave_out": st.booleans(),
    "kind": st.sampled_from(["question", "chat", "participant", "cafe", ""]),
    "target_id": ids, "report_id": ids, "note": words,
    "resolution": st.sampled_from(["none", "hide", "remove", "ban", "delete"]),
    "type": st.sampled_from(["offer", "answer", "pranswer", ""]),
    "sdp": st.one_of(st.sampled_from(["v=0\r\n", "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n"]),
                     huge),
}


def test_every_event_field_has_plausible_values() -> None:
    """A field added to an event gets its values here the day it is added (otherwise only
    the examples that happen to pick that event would find out, at random)."""
    missing = {(event, name) for event, model in EVENT_MODELS.items()
               for name in model.model_fields if name not in PLAUSIBLE}
    assert not missing, missing


def shaped(event: str) -> st.SearchStrategy[dict[str, Any]]:
    """Payloads with the event's own field names (so examples reach the deeper checks),
    each field a value it could carry or any value, or left out, sometimes with one more."""
    fields = sorted(EVENT_MODELS[event].model_fields)
    base = st.fixed_dictionaries({}, optional={
        name: st.one_of(PLAUSIBLE[name], PLAUSIBLE[name], field_value) for name in fields})
    extra = st.dictionaries(st.text(min_size=1, max_size=20), leaf, max_size=1)
    return st.tuples(base, extra).map(lambda pair: {**pair[1], **pair[0]})


known = st.sampled_from(sorted(EVENT_MODELS))
names = st.one_of(known, known, known, known, known, known, st.sampled_from(
    ["connect", "disconnect", "connect_error", "message", "*", "", "join ", "JOIN",
     "qa.ask\x00", "__proto__"]), st.text(max_size=30))


@st.composite
def events(draw: st.DrawFn) -> tuple[str, Any]:
    name = draw(names)
    if name in EVENT_MODELS:
        payload = draw(st.one_of(shaped(name), shaped(name), json_value, huge))
    else:
        payload = draw(json_value)
    return name, payload


async def stored(app: web.Application) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table a socket event can touch, every café's."""
    async with app[DATABASE].connect() as conn:
        return {table.name: [tuple(r) for r in await conn.execute(
            acted_on(table).order_by(*table.primary_key.columns))]
            for table in (*CAFE_TABLES, votes)}


# -- the room ------------------------------------------------------------------------------


@pytest.fixture
def server_errors() -> Iterator[ServerErrors]:
    with capture_server_errors() as errors:
        yield errors


@pytest.fixture
def config(tmp_path: Path, sqlite_url: str) -> Config:
    """Room for many events a second from one socket: the fuzzing is not about the rates."""
    return load_config(
        data_dir=tmp_path / "var", database_url=sqlite_url, secret_key=secrets.token_hex(24),
        ice={"host_addresses": ["127.0.0.1"]},
        limits={"events_per_second": 1000, "questions_per_minute": 100,
                "votes_per_second": 100, "chat_per_minute": 600,
                "reports_per_minute": 600})


@dataclass
class Room:
    """A live café with a socket per kind of caller, and things for ids to hit."""

    live: Live
    organiser_id: int
    cafe: Cafe | None = None
    peers: dict[str, Peer] = field(default_factory=dict)

    @property
    def app(self) -> web.Application:
        return self.live.app

    async def mend(self) -> None:
        """A live café again, and every caller's socket connected (and joined but one)."""
        hub = self.app[HUB]
        cafe = self.cafe
        if cafe is None or (await self.app[CAFES].get(cafe.slug)).status is not CafeStatus.LIVE:
            for old in self.peers.values():
                await old.close()
            self.peers.clear()
            self.cafe = cafe = await make_cafe(self.app[CAFES], live=True)
            await self._targets(cafe)
        for caller in CALLERS:
            peer = self.peers.get(caller)
            sid = peer.client.get_sid() if peer is not None and peer.client.connected else None
            conn = hub.connections.get(sid) if sid else None
            ready = conn is not None and (caller == "never_joined") == (conn.actor is None)
            if not ready:
                if peer is not None:
                    await peer.close()
                self.peers[caller] = await self._join(caller, cafe)

    async def _join(self, caller: str, cafe: Cafe) -> Peer:
        headers = {}
        extra: dict[str, Any] = {}
        if caller == "organiser":
            cookie = await login_cookie(self.app, self.organiser_id)
            headers = {"Cookie": f"causerie_session={cookie}"}
        elif caller in ("expert", "moderator"):
            extra["invite"] = await invite(self.app[CAFES], cafe, Role(caller))
        peer = await self.live.peer(headers=headers)
        if caller != "never_joined":
            ack = await peer.join(cafe, caller.title(), **extra)
            assert ack["ok"], ack
        return peer

    async def _targets(self, cafe: Cafe) -> None:
        """Questions of every status, a raised hand, a speaker and chat, by stored parents."""
        services = self.app[SERVICES]
        cafes = self.app[CAFES]
        staff = await self._parent(cafe, Role.ORGANISER)
        for n in range(4):
            parent = await self._parent(cafe)
            await services.qa.ask(parent, f"Question {n} sur les écrans ?")
            await services.moderation.send_chat(parent, f"Message {n}")
            if n == 0:
                await services.stage.raise_hand(parent)
            if n == 1:
                await services.stage.raise_hand(parent)
                await services.stage.bring_on_stage(staff, parent.participant_id)
                await services.stage.accept(parent)
            if n == 2:  # invited, not answered yet
                await services.stage.raise_hand(parent)
                await services.stage.bring_on_stage(staff, parent.participant_id)
        queue = await services.qa.queue(cafe.id)
        first, second, *_ = sorted(queue.questions)
        await services.qa.approve(staff, first)
        await services.qa.approve(staff, second)
        await services.qa.start_answering(staff, second)
        del cafes

    async def _parent(self, cafe: Cafe, role: Role = Role.PARTICIPANT) -> Actor:
        async with self.app[DATABASE].transaction() as conn:
            pid = await self.app[CAFES].repo.insert_participant(
                conn, cafe_id=cafe.id, pseudonym="Cible", role=role.value,
                browser_key=secrets.token_hex(16), invitation_id=None,
                now=self.app[CAFES].clock.now())
        assert pid is not None
        return Actor(pid, cafe.id, role, "Cible")


@pytest.fixture
async def room(live: Live) -> Room:
    organiser_id = await create_organiser(live.cafes, "orga@example.org", "Claire",
                                          "correct horse battery staple")
    made = Room(live, organiser_id)
    await made.mend()
    return made


@fuzz(int(os.environ.get("CAUSERIE_FUZZ_EXAMPLES", "150")))
@given(caller=st.sampled_from(CALLERS), sent=events())
async def test_every_event_payload(room: Room, server_errors: ServerErrors, caller: str,
                                   sent: tuple[str, Any]) -> None:
    event, payload = sent
    await room.mend()
    assert room.cafe is not None
    peer = room.peers[caller]
    if isinstance(payload, dict) and payload.get("cafe") == CAFE:
        payload = {**payload, "cafe": room.cafe.slug}
    before = await stored(room.app)
    try:
        ack = await peer.call(event, payload, wait=15)
    except ValueError:  # a name the client library itself refuses to send
        reject()
    assert isinstance(ack, dict) and isinstance(ack.get("ok"), bool), ack
    note_outcome("ok" if ack["ok"] else ack["error"]["code"])
    if not ack["ok"]:
        error = ack["error"]
        assert error["code"] in DOCUMENTED, (event, payload, ack)
        assert isinstance(error["message"], str) and error["message"], ack
        assert await stored(room.app) == before, (event, payload, ack)
    assert not (logged := server_errors.take()), (logged, event, payload)
    assert peer.client.connected, (event, "the server hung up")


def test_the_documented_codes_are_read() -> None:
    assert {"invalid_input", "forbidden", "not_joined", "unknown_event"} <= DOCUMENTED
