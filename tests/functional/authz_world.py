"""The world of the authorisation matrix (`test_authz_matrix.py`): one real server, and per
café state a café with one socket per kind of caller, each made the way a person gets there
(an invitation link, the organiser's session cookie, a moderator's removal or ban, an
invitation revoked through the admin page or expired by the clock).

Targets (questions, raised hands, speakers, chat messages, parents to remove) are made fresh
for every cell through the services, so a cell that is allowed and changes them cannot
change what the next cell sees. A cell that changes the café itself (`cafe.open`,
`cafe.end`) makes the world stale; one that takes its own socket out (`leave`) makes only that
socket stale; each is rebuilt when next needed.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import aiohttp
import sqlalchemy as sa
from aiortc import RTCPeerConnection, RTCSessionDescription
from media_support import Tone
from signaling_fixtures import Peer, connect, login_cookie, make_cafe

from server.auth import create_organiser
from server.keys import CAFES, CLOCK, DATABASE, SERVICES
from sessions.actors import Actor
from sessions.associations import validate_association
from sessions.cafe import Cafe, CafeStatus
from sessions.clock import FixedClock
from sessions.roles import Role
from sessions.service_associations import OPERATOR
from sessions.storage import tables as t
from signaling.keys import HUB
from signaling.media import build_configuration, offered_host_addresses

STATES = ("scheduled", "live", "ended")
ROLES = ("organiser", "expert", "moderator", "participant", "viewer", "never_joined",
         "other_cafe_staff", "other_association_staff", "removed", "banned", "revoked",
         "expired")
# How long an open socket may keep a revoked or expired invitation's powers (issue 8).
REVOCATION_DELAY = 1.0

# Every table that holds a café's state, and how to pick the café's rows in it.
CAFE_TABLES: tuple[sa.Table, ...] = (
    t.cafes, t.invitations, t.participants, t.bans, t.questions, t.chat_messages,
    t.audit_log, t.stage_state, t.recordings, t.transcript_jobs, t.segments, t.watch_lists,
    t.reports,
)
# Columns the server keeps up to date by itself, on a timer, whoever acts: the attendance
# peak (`signaling.peaks.PeakRecorder` writes it within 5 s of a join). What a refused
# action must not change is everything else.
SERVER_KEPT = {"cafes": frozenset({"peak_parents"})}


def acted_on(table: sa.Table) -> sa.Select[Any]:
    """`SELECT` of the table's columns an action can change (not `SERVER_KEPT`)."""
    kept = SERVER_KEPT.get(table.name, frozenset())
    return sa.select(*(c for c in table.columns if c.name not in kept))


async def snapshot(db: Any, cafe_id: int) -> dict[str, list[tuple[Any, ...]]]:
    """Every stored row of one café, table by table (votes through its questions)."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    async with db.connect() as conn:
        for table in CAFE_TABLES:
            column = table.c.id if table is t.cafes else table.c.cafe_id
            rows = await conn.execute(acted_on(table).where(column == cafe_id)
                                      .order_by(*table.primary_key.columns))
            out[table.name] = [tuple(r) for r in rows]
        asked = sa.select(t.questions.c.id).where(t.questions.c.cafe_id == cafe_id)
        rows = await conn.execute(sa.select(t.votes).where(t.votes.c.question_id.in_(asked))
                                  .order_by(t.votes.c.question_id, t.votes.c.participant_id))
        out["votes"] = [tuple(r) for r in rows]
    return out


@dataclass
class Slot:
    """One caller's socket in the world's café (or, for `other_cafe_staff`, in café B)."""

    role: str
    peer: Peer
    join_payload: dict[str, Any]
    headers: dict[str, str]
    actor: Actor | None = None  # the stored participant this socket acts as, once joined
    join_ack: Any = None
    home: Cafe | None = None  # café B, for the staff of another café
    stale: bool = False


@dataclass
class World:
    """The server, the café of one state and its callers."""

    url: str
    app: Any
    state: str
    organiser_id: int
    offer_sdp: str
    cafe: Cafe = field(init=False)
    staff: Actor = field(init=False)  # the organiser, who prepares the targets
    slots: dict[str, Slot] = field(default_factory=dict)
    stale: bool = False
    pool: dict[str, int] = field(default_factory=dict)
    closing: list[Any] = field(default_factory=list)
    other_organiser_id: int = 0  # an organiser of association B, made with its slot

    # -- building --------------------------------------------------------------------

    @property
    def services(self) -> Any:
        return self.app[SERVICES]

    @property
    def clock(self) -> FixedClock:
        clock = self.app[CLOCK]
        assert isinstance(clock, FixedClock)
        return clock

    async def organiser_headers(self) -> dict[str, str]:
        """A fresh login of the organiser (a login lasts hours of the test's clock, which
        jumps by weeks to expire an invitation)."""
        cookie = await login_cookie(self.app, self.organiser_id, lasts=timedelta(days=60))
        return {"Cookie": f"causerie_session={cookie}"}

    async def _relogin(self) -> None:
        if "organiser" in self.slots:
            self.slots["organiser"].headers = await self.organiser_headers()
        if "other_association_staff" in self.slots and self.other_organiser_id:
            cookie = await login_cookie(self.app, self.other_organiser_id)
            self.slots["other_association_staff"].headers = {
                "Cookie": f"causerie_session={cookie}"}

    async def build(self) -> None:
        cafes = self.app[CAFES]
        self.cafe = await make_cafe(cafes, live=self.state != "scheduled")
        organiser = await self._slot("organiser")
        assert organiser.actor is not None, organiser.join_ack
        self.staff = organiser.actor
        # The expiring invitation first, then every other one a little before it expires,
        # then the clock past its end: it alone has expired.
        ttl = cafes.invitation_ttl.total_seconds()
        self.slots["expired"] = await self._make_expired(advance=False)
        self.clock.advance(ttl - 600)
        for role in ROLES[1:-1]:
            await self._slot(role)
        self.clock.advance(1200)
        await self._relogin()
        await self._role_ended(self.slots["expired"])
        if self.state == "ended":
            # Targets made while the café could still have them (the services refuse an
            # ended café), for the cells to name.
            for status in ("pending", "approved", "answering"):
                self.pool[f"question:{status}"] = await self.question(status)
            self.pool["hand"] = (await self.hand()).participant_id
            self.pool["speaker"] = (await self.speaker()).participant_id
            self.pool["chat"] = await self.chat_message()
            self.pool["chat:held"] = await self.chat_message(held=True)
            self.pool["parent"] = (await self.parent()).participant_id
            for kind in ("question", "chat", "participant"):
                self.pool[f"report:{kind}"] = await self.report_target(kind)
            self.pool["report"] = await self.report()
            ack = await organiser.peer.call("cafe.end", {})
            assert ack["ok"], ack
            await self._wait_detached()
            self.cafe = await cafes.get(self.cafe.slug)
            assert self.cafe.status is CafeStatus.ENDED

    async def _wait_detached(self) -> None:
        """Until no socket of this process is joined to the ended café."""
        hub = self.app[HUB]
        for _ in range(100):
            if not any(c.actor is not None and c.actor.cafe_id == self.cafe.id
                       for c in hub.connections.values()):
                return
            await asyncio.sleep(0.05)
        raise AssertionError("sockets still joined to the ended café")

    async def slot(self, role: str) -> Slot:
        """The caller's socket, rebuilt if a cell took it out."""
        current = self.slots.get(role)
        if current is None or current.stale:
            if current is not None:
                await current.peer.close()
            current = await self._slot(role)
        return current

    async def _slot(self, role: str) -> Slot:
        make = getattr(self, f"_make_{role}")
        slot: Slot = await make()
        self.slots[role] = slot
        return slot

    async def _socket(self, role: str, payload: dict[str, Any],
                      headers: dict[str, str] | None = None, *, join: bool = True) -> Slot:
        # (the client library takes the Cookie header out of the dict it is given)
        slot = Slot(role, await connect(self.url, headers=dict(headers or {})), payload,
                    dict(headers or {}))
        if join:
            await self.join(slot)
        return slot

    async def fresh_peer(self, slot: Slot) -> Peer:
        """Another socket with the caller's credentials (a second tab, a reconnection)."""
        peer = await connect(self.url, headers=dict(slot.headers))
        self.closing.append(peer)
        return peer

    async def join(self, slot: Slot) -> None:
        slot.join_ack = ack = await slot.peer.call("join", slot.join_payload)
        if ack.get("ok"):
            me = ack["participant"]
            cafe_id = ack["cafe"]["id"]
            slot.actor = Actor(me["id"], cafe_id, Role(me["role"]), me["pseudonym"])

    def _payload(self, pseudonym: str, cafe: Cafe | None = None, **extra: Any) -> dict[str, Any]:
        return {"cafe": (cafe or self.cafe).slug, "pseudonym": pseudonym,
                "browser_key": secrets.token_hex(16), **extra}

    async def _invited(self, role: str, as_role: Role, cafe: Cafe | None = None) -> Slot:
        token = (await self.app[CAFES].invite((cafe or self.cafe).id, as_role)).token
        return await self._socket(role, self._payload(role.title(), cafe, invite=token))

    async def _make_organiser(self) -> Slot:
        return await self._socket("organiser", self._payload("ignored"),
                                  await self.organiser_headers())

    async def _make_expert(self) -> Slot:
        return await self._invited("expert", Role.EXPERT)

    async def _make_moderator(self) -> Slot:
        return await self._invited("moderator", Role.MODERATOR)

    async def _make_participant(self) -> Slot:
        return await self._socket("participant", self._payload("Marie"))

    async def _make_never_joined(self) -> Slot:
        return await self._socket("never_joined", self._payload("Paul"), join=False)

    async def _make_viewer(self) -> Slot:
        """A browser the café knows as a viewer (the role with no live permission)."""
        payload = self._payload("Vera")
        await self.parent(browser_key=payload["browser_key"], role=Role.VIEWER)
        return await self._socket("viewer", payload)

    async def _make_other_cafe_staff(self) -> Slot:
        """A moderator of café B, in the same state, joined to café B."""
        home = await make_cafe(self.app[CAFES], title="Un autre café",
                               live=self.state != "scheduled")
        slot = await self._invited("other_cafe_staff", Role.MODERATOR, home)
        slot.home = home
        if self.state == "ended":
            ack = await slot.peer.call("cafe.end", {})
            assert ack["ok"], ack
            await slot.peer.next("cafe.status")
        return slot

    async def _make_other_association_staff(self) -> Slot:
        """An organiser of association B, logged in, whose browser joins this café (of
        association A): the login gives no organiser power here."""
        if not self.other_organiser_id:
            associations = self.app[CAFES].associations
            other = await associations.create(
                OPERATOR, validate_association(name=f"Autre {secrets.token_hex(3)}"))
            self.other_organiser_id = await create_organiser(
                self.app[CAFES], f"b-{secrets.token_hex(4)}@example.org", "Bérénice",
                "correct horse battery staple", association_id=other.id)
        cookie = await login_cookie(self.app, self.other_organiser_id)
        return await self._socket("other_association_staff", self._payload("Bérénice"),
                                  {"Cookie": f"causerie_session={cookie}"})

    async def _make_removed(self) -> Slot:
        """A parent removed by a moderator, who comes back (a removal is not a ban)."""
        if self.cafe.status is not CafeStatus.LIVE:
            payload = self._payload("Rémi")
            target = await self.parent(browser_key=payload["browser_key"])
            moderation = self.services.moderation
            await self.emit(await moderation.remove(self.staff, target.participant_id))
            return await self._socket("removed", payload)
        first = await self._socket("removed", self._payload("Rémi"))
        assert first.actor is not None, first.join_ack
        await self.emit(await self.services.moderation.remove(self.staff,
                                                              first.actor.participant_id))
        await asyncio.wait_for(first.peer.disconnected.wait(), 5)
        return await self._socket("removed", first.join_payload)

    async def _make_banned(self) -> Slot:
        """A parent banned while their socket stays open (the ban's disconnection lost, as on
        a process that missed it): the socket itself must get nothing more done."""
        payload = self._payload("Bastien")
        if self.cafe.status is not CafeStatus.LIVE:
            target = await self.parent(browser_key=payload["browser_key"])
            await self.services.moderation.ban(self.staff, target.participant_id)
            return await self._socket("banned", payload)
        slot = await self._socket("banned", payload)
        assert slot.actor is not None, slot.join_ack
        await self.services.moderation.ban(self.staff, slot.actor.participant_id)
        return slot

    async def _make_revoked(self) -> Slot:
        """A moderator whose invitation the organiser revokes on the admin page."""
        slot = await self._invited("revoked", Role.MODERATOR)
        invitation = max((i for i in await self.app[CAFES].invitations(self.cafe.id)
                          if i.role is Role.MODERATOR), key=lambda i: i.id)
        await self._revoke_on_admin_page(invitation.id)
        await self._role_ended(slot)
        return slot

    async def _make_expired(self, *, advance: bool = True) -> Slot:
        """An expert whose invitation expires while joined (the clock passes its end). Made
        again alone, it takes the other invitations with it: their sockets are remade."""
        slot = await self._invited("expired", Role.EXPERT)
        if advance:
            self.clock.advance(self.app[CAFES].invitation_ttl.total_seconds() + 60)
            await self._relogin()
            await self._role_ended(slot)
            for role in ("expert", "moderator", "other_cafe_staff", "other_association_staff"):
                if role in self.slots:
                    self.slots[role].stale = True
        return slot

    async def _role_ended(self, slot: Slot) -> None:
        """The socket is told its invitation ended, within a second of the revocation. An
        expiry is noticed at the socket's next event (the expiry timer runs on real time,
        the test's clock jumped): it sends one that changes nothing either way."""
        start = time.monotonic()
        if slot.role == "expired":
            await slot.peer.call("qa.approve", {"question_id": 2**53})
        notice = await slot.peer.next("role.changed", wait=5)
        assert time.monotonic() - start <= REVOCATION_DELAY, "the role ended too late"
        assert notice["role"] == "participant", notice
        # a café not open yet admits no parent: the socket left it
        assert notice["left"] is (self.cafe.status is not CafeStatus.LIVE), notice

    async def _revoke_on_admin_page(self, invitation_id: int) -> None:
        jar = aiohttp.CookieJar(unsafe=True)
        async with aiohttp.ClientSession(cookie_jar=jar,
                                         headers=await self.organiser_headers()) as http:
            page = f"{self.url}admin/cafes/{self.cafe.slug}"
            async with http.get(page) as response:
                assert response.status == 200, response.status
                html = await response.text()
            found = re.search(r'name="csrf_token" value="([^"]+)"', html)
            assert found is not None
            cookie = response.cookies.get("causerie_session")
            headers = {"Cookie": f"causerie_session={cookie.value}"} if cookie else {}
            async with http.post(f"{page}/invitations/{invitation_id}/revoke",
                                 data={"csrf_token": found.group(1)}, headers=headers,
                                 allow_redirects=False) as response:
                assert response.status == 303, (response.status, await response.text())

    # -- targets -------------------------------------------------------------------------

    async def emit(self, events: Any) -> None:
        await self.app[HUB].carry_out(events)

    @property
    def ended(self) -> bool:
        return self.cafe.status is CafeStatus.ENDED

    def _pooled(self, key: str) -> Actor:
        return Actor(self.pool[key], self.cafe.id, Role.PARTICIPANT, "Cible")

    async def parent(self, *, browser_key: str | None = None,
                     role: Role = Role.PARTICIPANT) -> Actor:
        """A stored parent of the café, without a socket: the target of a staff action."""
        if self.ended:
            return self._pooled("parent")
        cafes = self.app[CAFES]
        pseudonym = f"Cible {secrets.token_hex(2)}"
        async with self.app[DATABASE].transaction() as conn:
            pid = await cafes.repo.insert_participant(
                conn, cafe_id=self.cafe.id, pseudonym=pseudonym, role=role.value,
                browser_key=browser_key or secrets.token_hex(16), invitation_id=None,
                now=self.clock.now())
        return Actor(pid, self.cafe.id, role, pseudonym)

    async def question(self, status: str = "pending", author: Actor | None = None) -> int:
        if self.ended:
            return self.pool[f"question:{status}"]
        qa = self.services.qa
        author = author or await self.parent()
        await qa.ask(author, f"Une question {secrets.token_hex(3)} ?")
        question_id = max((await qa.queue(self.cafe.id)).questions)
        if status in ("approved", "answering"):
            await qa.approve(self.staff, question_id)
        if status == "answering":
            await qa.start_answering(self.staff, question_id)
        return int(question_id)

    async def hand(self, who: Actor | None = None) -> Actor:
        if self.ended:
            return self._pooled("hand")
        who = who or await self.parent()
        await self.services.stage.raise_hand(who)
        return who

    async def speaker(self, who: Actor | None = None) -> Actor:
        if self.ended:
            return self._pooled("speaker")
        await self.clear_stage()
        who = await self.hand(who)
        await self.services.stage.bring_on_stage(self.staff, who.participant_id)
        await self.services.stage.accept(who)
        return who

    async def invited(self, who: Actor | None = None) -> Actor:
        """A raised hand invited on stage, not answered yet (a café that is not ended)."""
        assert not self.ended
        await self.clear_stage()
        who = await self.hand(who)
        await self.services.stage.bring_on_stage(self.staff, who.participant_id)
        return who

    async def clear_stage(self) -> None:
        """Send every speaker back and withdraw every invitation, so the stage has room for
        the next cell's speaker."""
        if self.ended:
            return
        async with self.app[DATABASE].connect() as conn:
            rows = await conn.execute(
                sa.select(t.stage_state.c.participant_id, t.stage_state.c.state)
                .where(t.stage_state.c.cafe_id == self.cafe.id)
                .where(t.stage_state.c.state.in_(("on_stage", "invited"))))
            entries = [(r[0], r[1]) for r in rows]
        for pid, state in entries:
            if state == "on_stage":
                await self.services.stage.send_back(self.staff, pid)
            else:
                await self.services.stage.lower_hand(self.staff, pid)

    async def chat_message(self, *, held: bool = False) -> int:
        """A parent's message; `held`: one a watched word holds for a moderator (a phone
        number: the default list holds it)."""
        if self.ended:
            return self.pool["chat:held" if held else "chat"]
        author = await self.parent()
        await self.services.moderation.send_chat(
            author, "Appelez-moi au 06 12 34 56 78" if held else "Bonjour à tous")
        async with self.app[DATABASE].connect() as conn:
            found = await conn.execute(sa.select(sa.func.max(t.chat_messages.c.id))
                                       .where(t.chat_messages.c.cafe_id == self.cafe.id))
            return int(found.scalar_one())

    async def report_target(self, kind: str) -> int:
        """Something a parent can report: an approved question, a message, a parent."""
        if self.ended:
            return self.pool[f"report:{kind}"]
        if kind == "question":
            return await self.question("approved")
        if kind == "chat":
            return await self.chat_message()
        return (await self.parent()).participant_id

    async def report(self) -> int:
        """An open report of a fresh message, by a fresh parent."""
        if self.ended:
            return self.pool["report"]
        reporter = await self.parent()
        [event] = await self.services.reports.file(reporter, "chat",
                                                   await self.chat_message(), "spam")
        return int(event.payload["report"]["id"])

    async def subscriber_answer(self, slot: Slot) -> str | None:
        """Subscribe `slot` and answer the server's offer as a browser would."""
        ack = await slot.peer.call("media.subscribe", {})
        if not ack.get("ok"):
            return None
        pc = RTCPeerConnection(build_configuration())
        self.closing.append(pc)
        await pc.setRemoteDescription(RTCSessionDescription(ack["sdp"], "offer"))
        with offered_host_addresses(("127.0.0.1",)):
            await pc.setLocalDescription(await pc.createAnswer())
        assert pc.localDescription is not None
        return str(pc.localDescription.sdp)

    async def close(self) -> None:
        for slot in self.slots.values():
            await slot.peer.close()
        for thing in self.closing:
            await thing.close()


async def publisher_offer() -> tuple[str, RTCPeerConnection]:
    """A browser's microphone offer (the same offer may be answered many times)."""
    pc = RTCPeerConnection(build_configuration())
    pc.addTransceiver(Tone(), direction="sendonly")
    with offered_host_addresses(("127.0.0.1",)):
        await pc.setLocalDescription(await pc.createOffer())
    assert pc.localDescription is not None
    return str(pc.localDescription.sdp), pc


Prepare = Callable[[World, Slot], Awaitable[tuple[dict[str, Any], str]]]

__all__ = [
    "CAFE_TABLES",
    "REVOCATION_DELAY",
    "ROLES",
    "SERVER_KEPT",
    "STATES",
    "Prepare",
    "Slot",
    "World",
    "acted_on",
    "publisher_offer",
    "snapshot",
]
