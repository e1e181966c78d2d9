"""The café service: create and edit cafés, invitations, joining, opening and ending.

Takes parsed inputs, checks the permission table, applies the pure lifecycle in
`sessions.cafe`, persists in one transaction and returns the events to emit.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy.ext.asyncio import AsyncConnection

from sessions import cafe as cafe_rules
from sessions.actors import Account, Actor
from sessions.associations import Association
from sessions.batching import Batcher
from sessions.cafe import Cafe, CafeDraft, CafeEnded, CafeOpened, CafeStatus
from sessions.clock import Clock
from sessions.commands import MediaReason, StopPublication
from sessions.errors import (
    Banned,
    CauserieError,
    InvalidInput,
    InvitationInvalid,
    NotFound,
    PermissionDenied,
)
from sessions.events import Audience, Effects, Outbound
from sessions.roles import Permission, Role, allows
from sessions.service_associations import AssociationService
from sessions.service_watch import WatchService
from sessions.settings import Limits
from sessions.storage.database import Database, as_utc
from sessions.storage.repo_cafes import CafeRepository
from sessions.storage.repo_moderation import ModerationRepository
from sessions.watchwords import Matcher, Verdict, WatchAction

log = logging.getLogger("causerie.cafes")

INVITABLE_ROLES = (Role.EXPERT, Role.MODERATOR)
BROWSER_KEY_LENGTH = (16, 64)


@dataclass(frozen=True, slots=True)
class Invitation:
    id: int
    cafe_id: int
    role: Role
    expires_at: datetime
    revoked: bool
    token: str


@dataclass(frozen=True, slots=True)
class PortalListing:
    live: list[Cafe]
    upcoming: list[Cafe]
    past: list[Cafe]
    themes: list[str]
    associations: dict[int, Association] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class JoinRequest:
    slug: str
    browser_key: str
    pseudonym: str
    invitation_token: str | None
    organiser: Account | None  # logged in: an organiser in its own association's cafés only
    address: str | None

    def organiser_name(self, cafe: Cafe) -> str | None:
        """The organiser's display name where the login makes them this café's organiser
        (`sessions.roles`: their own association's cafés); None elsewhere."""
        if self.organiser is not None and (
                self.organiser.role_in(cafe.association_id) is Role.ORGANISER):
            return self.organiser.display_name
        return None


@dataclass(frozen=True, slots=True)
class Joined:
    actor: Actor
    cafe: Cafe
    invitation_id: int | None
    rejoined: bool
    # when the invitation behind a staff role expires (None: no invitation)
    invitation_expires_at: datetime | None = None
    # The watched words a *flag* found in the pseudonym (`Verdict.view()`): moderators see
    # the participant marked in their presence list; nobody else is told.
    watch: Mapping[str, Any] | None = None


class CafeService:
    def __init__(self, db: Database, clock: Clock, secret_key: str, *,
                 invitation_ttl: timedelta = timedelta(days=14),
                 limits: Limits | None = None, watch: WatchService | None = None,
                 first_association: str = "Causerie") -> None:
        self.db = db
        self.clock = clock
        self.watch = watch or WatchService(db, clock)
        self.repo = CafeRepository()
        self.bans = ModerationRepository()
        self._signer = URLSafeTimedSerializer(secret_key, salt="causerie.invitation")
        self.invitation_ttl = invitation_ttl
        self.limits = limits or Limits()
        self.associations = AssociationService(db, clock, secret_key,
                                               first_name=first_association)
        self._joins: Batcher[JoinRequest, Joined] = Batcher(self._join_batch, name="joins")

    # cafés

    async def create_cafe(self, draft: CafeDraft, organiser_id: int | None,
                          association_id: int | None = None) -> Cafe:
        """A new café of `association_id` (None: the first association)."""
        async with self.db.transaction() as conn:
            if association_id is None:
                association_id = (await self.associations.default(conn)).id
            base = cafe_rules.slugify(draft.title, draft.starts_at)
            slug, n = base, 1
            while await self.repo.slug_exists(conn, slug):
                n += 1
                slug = f"{base}-{n}"
            cafe = await self.repo.insert(conn, slug, draft, organiser_id, self.clock.now(),
                                          association_id)
        log.info("café created cafe=%s slug=%s", cafe.id, cafe.slug)
        return cafe

    async def update_cafe(self, slug: str, draft: CafeDraft) -> Cafe:
        async with self.db.transaction() as conn:
            cafe = await self._get(conn, slug, for_update=True)
            if cafe.status is CafeStatus.ENDED:
                raise InvalidInput("An ended café can no longer be edited.")
            await self.repo.update_draft(conn, cafe.id, draft)
            updated = await self._get(conn, slug)
        log.info("café edited cafe=%s", cafe.id)
        return updated

    async def get(self, slug: str) -> Cafe:
        async with self.db.connect() as conn:
            return await self._get(conn, slug)

    async def get_by_id(self, cafe_id: int) -> Cafe:
        async with self.db.connect() as conn:
            cafe = await self.repo.by_id(conn, cafe_id)
        if cafe is None:
            raise NotFound("No such café.")
        return cafe

    async def account(self, organiser_id: int) -> Account | None:
        """An organiser's (or the platform administrator's) account; None when it is gone."""
        async with self.db.connect() as conn:
            row = await self.repo.organiser_by_id(conn, organiser_id)
        return None if row is None else account_of(row)

    async def administered(self, account: Account, slug: str) -> Cafe:
        """The café, when `account` is an organiser of its association; PermissionDenied
        for any other account (the permission table's association scope)."""
        cafe = await self.get(slug)
        if account.role_in(cafe.association_id) is not Role.ORGANISER:
            raise PermissionDenied("This café belongs to another association.")
        return cafe

    async def portal(self, theme: str | None = None,
                     association_id: int | None = None) -> PortalListing:
        async with self.db.connect() as conn:
            every = await self.repo.all(conn, theme=theme, association_id=association_id,
                                        limit=500)
            themes = await self.repo.themes(conn)
            associations = {a.id: a for a in await self.associations.repo.all(conn)}
        live = [c for c in every if c.status is CafeStatus.LIVE]
        upcoming = [c for c in every if c.status is CafeStatus.SCHEDULED]
        past = sorted((c for c in every if c.status is CafeStatus.ENDED),
                      key=lambda c: c.starts_at, reverse=True)
        return PortalListing(live, upcoming, past, themes, associations)

    async def open_cafe(self, actor: Actor) -> tuple[Cafe, list[Outbound]]:
        actor.require(Permission.OPEN_CAFE)
        return await self._lifecycle(actor, cafe_rules.open_cafe, "opened_at")

    async def end_cafe(self, actor: Actor) -> tuple[Cafe, list[Outbound]]:
        actor.require(Permission.END_CAFE)
        return await self._lifecycle(actor, cafe_rules.end_cafe, "ended_at")

    async def _lifecycle(
        self, actor: Actor,
        step: Callable[[Cafe, datetime], tuple[Cafe, CafeOpened | CafeEnded]], stamp: str,
    ) -> tuple[Cafe, list[Outbound]]:
        """One step of the pure lifecycle, persisted, announced to the café."""
        async with self.db.transaction() as conn:
            cafe = await self._get_id(conn, actor.cafe_id)
            cafe, happened = step(cafe, self.clock.now())
            await self.repo.save_state(conn, cafe)
        log.info("café %s cafe=%s participant=%s", cafe.status.value, cafe.id,
                 actor.participant_id)
        return cafe, [Outbound("cafe.status", {"status": cafe.status.value,
                                               stamp: happened.at.isoformat()},
                               Audience.CAFE, cafe.id)]

    async def set_transcript_published(self, slug: str, published: bool) -> Cafe:
        async with self.db.transaction() as conn:
            cafe = await self._get(conn, slug, for_update=True)
            cafe = cafe_rules.set_transcript_published(cafe, published)
            await self.repo.save_state(conn, cafe)
        log.info("transcript %s cafe=%s", "published" if published else "withdrawn", cafe.id)
        return cafe

    # invitations

    async def invite(self, cafe_id: int, role: Role) -> Invitation:
        if role not in INVITABLE_ROLES:
            raise InvalidInput("Only experts and moderators are invited.")
        now = self.clock.now()
        nonce = secrets.token_urlsafe(24)
        expires_at = now + self.invitation_ttl
        async with self.db.transaction() as conn:
            await self._get_id(conn, cafe_id)
            invitation_id = await self.repo.insert_invitation(
                conn, cafe_id, role.value, nonce, expires_at, now)
        log.info("invitation created cafe=%s role=%s invitation=%s", cafe_id, role, invitation_id)
        return Invitation(invitation_id, cafe_id, role, expires_at, False,
                          self._token(invitation_id, nonce))

    async def invitations(self, cafe_id: int) -> list[Invitation]:
        async with self.db.connect() as conn:
            rows = await self.repo.invitations_for(conn, cafe_id)
        return [
            Invitation(r["id"], r["cafe_id"], Role(r["role"]), as_utc(r["expires_at"]),
                       r["revoked_at"] is not None, self._token(r["id"], r["nonce"]))
            for r in rows
        ]

    async def revoke_invitation(self, cafe_id: int, invitation_id: int) -> Effects:
        """Revoke an invitation; whoever joined with it is a parent from now on (their
        stored role too). Returns the commands that stop their media publication (an
        expert's); the edge also takes the role off their open sockets."""
        async with self.db.transaction() as conn:
            row = await self.repo.invitation(conn, invitation_id)
            if row is None or row["cafe_id"] != cafe_id:
                raise NotFound("No such invitation.")
            await self.repo.revoke_invitation(conn, invitation_id, self.clock.now())
            demoted = await self.repo.demote_participants(conn, invitation_id,
                                                          Role.PARTICIPANT.value)
        log.info("invitation revoked cafe=%s invitation=%s participants=%s", cafe_id,
                 invitation_id, len(demoted))
        role = Role(row["role"])
        publishes = allows(role, Permission.PUBLISH_MICROPHONE) or allows(
            role, Permission.PUBLISH_CAMERA)
        return Effects((), tuple(StopPublication(cafe_id, pid, MediaReason.REVOKED)
                                 for pid in demoted if publishes))

    async def end_organiser_role(self, participant_id: int) -> None:
        """An organiser's login ended (logout, a password change): the participant who
        joined with it is a parent from now on (its stored role too)."""
        async with self.db.transaction() as conn:
            await self.repo.demote_participant(conn, participant_id, Role.ORGANISER.value,
                                               Role.PARTICIPANT.value)
        log.info("organiser role ended participant=%s", participant_id)

    async def invitation_lapsed(self, invitation_id: int) -> str | None:
        """None while an invitation gives its role; else why not (`"revoked"`, also when
        it is gone, or `"expired"`), and the participants who joined with it are parents
        from now on."""
        now = self.clock.now()
        async with self.db.connect() as conn:
            row = await self.repo.invitation(conn, invitation_id)
        if row is not None and _valid(row, row["cafe_id"], now):
            return None
        async with self.db.transaction() as conn:
            await self.repo.demote_participants(conn, invitation_id, Role.PARTICIPANT.value)
        expired = row is not None and row["revoked_at"] is None
        return "expired" if expired else "revoked"

    def _token(self, invitation_id: int, nonce: str) -> str:
        return str(self._signer.dumps({"i": invitation_id, "n": nonce}))

    async def check_invitation(self, cafe_id: int, token: str) -> tuple[int, Role]:
        """The invitation's id and role, or InvitationInvalid."""
        invitation_id, nonce = self._token_data(token)
        async with self.db.connect() as conn:
            row = await self.repo.invitation(conn, invitation_id)
        row = _token_row(row, nonce, cafe_id, self.clock.now())
        return int(row["id"]), Role(row["role"])

    # joining

    async def join(self, slug: str, *, browser_key: str, pseudonym: str,
                   invitation_token: str | None = None,
                   organiser: Account | None = None, address: str | None = None) -> Joined:
        """Admit a browser to a café, as a guest parent, an invited expert or moderator, or an
        organiser of the café's association logged in on the admin pages (an organiser of
        another association is whoever its link, or nothing, makes it). The same browser
        rejoins as the same participant.

        Concurrent joins share one transaction (`Batcher`): a burst of thousands of parents
        costs a few transactions, each join checked and written in turn as if alone."""
        if not (BROWSER_KEY_LENGTH[0] <= len(browser_key) <= BROWSER_KEY_LENGTH[1]
                and browser_key.isascii() and browser_key.replace("-", "").isalnum()):
            raise InvalidInput("Invalid browser key.")
        joined = await self._joins.submit(JoinRequest(
            slug, browser_key, pseudonym, invitation_token or None, organiser, address))
        log.info("joined cafe=%s participant=%s role=%s", joined.cafe.id,
                 joined.actor.participant_id, joined.actor.role)
        return joined

    async def _join_batch(self, requests: Sequence[JoinRequest]) -> list[Joined | Exception]:
        """Every waiting join, in one transaction, in the order they came. A refused join
        raises before it writes anything, so it never undoes the others."""
        try:
            return await self._join_together(requests)
        except CauserieError:
            raise
        except Exception:
            if len(requests) == 1:
                raise
            # a fault (not a refusal) rolled the batch back: each join alone, so that one
            # join's fault is never the others'
            log.warning("join batch failed, joins=%s: each on its own", len(requests))
            outcomes: list[Joined | Exception] = []
            for request in requests:
                try:
                    outcomes += await self._join_together([request])
                except Exception as exc:
                    outcomes.append(exc)
            return outcomes

    async def _join_together(self, requests: Sequence[JoinRequest]) -> list[Joined | Exception]:
        now = self.clock.now()
        outcomes: dict[int, Joined | Exception] = {}
        by_slug: dict[str, list[int]] = {}
        for i, request in enumerate(requests):
            by_slug.setdefault(request.slug, []).append(i)
        async with self.db.transaction() as conn:
            for slug, indexes in by_slug.items():
                cafe = await self.repo.by_slug(conn, slug)
                done = await self._join_cafe(conn, cafe, [requests[i] for i in indexes], now)
                outcomes.update(zip(indexes, done, strict=True))
        return [outcomes[i] for i in range(len(requests))]

    async def _join_cafe(self, conn: AsyncConnection, cafe: Cafe | None,
                         requests: Sequence[JoinRequest],
                         now: datetime) -> list[Joined | Exception]:
        """The joins of one café: everything they depend on read first, in a few
        statements (so that SQLite's write lock is held only for the writes), each join
        checked as if alone, then the new participants inserted in one statement."""
        if cafe is None:
            return [NotFound("No such café.") for _ in requests]
        keys = [r.browser_key for r in requests]
        tokens: dict[int, tuple[int, Any] | InvitationInvalid] = {}
        for i, request in enumerate(requests):
            if request.organiser_name(cafe) is None and request.invitation_token:
                try:
                    tokens[i] = self._token_data(request.invitation_token)
                except InvitationInvalid as exc:
                    tokens[i] = exc
        existing = await self.repo.participants_by_browsers(conn, cafe.id, keys)
        wanted = [t[0] for t in tokens.values() if isinstance(t, tuple)] + [
            int(r["invitation_id"]) for r in existing.values() if r["invitation_id"] is not None]
        seen = _Seen(
            await self.watch.matcher_in(conn, cafe.id), existing,
            await self.repo.invitations_by_ids(conn, wanted),
            *await self.bans.banned_among(conn, cafe.id, keys, wanted),
            await self.bans.addresses_banned(
                conn, cafe.id, [r.address for r in requests if r.address], now))
        outcomes: list[_Admission | Exception] = []
        for i, request in enumerate(requests):
            try:
                outcomes.append(self._admit(request, cafe, tokens.get(i), seen, now))
            except CauserieError as exc:
                outcomes.append(exc)
        # writes: the new browsers in one statement (a browser twice in the batch: its
        # first join inserts, the next ones find it), then those who come back
        new_rows: dict[str, dict[str, Any]] = {}
        for a in outcomes:
            if isinstance(a, _Admission) and a.existing is None:
                new_rows.setdefault(a.browser_key, {
                    "cafe_id": cafe.id, "pseudonym": a.pseudonym, "role": a.role.value,
                    "browser_key": a.browser_key, "invitation_id": a.invitation_id,
                    "joined_at": now})
        inserted = await self.repo.insert_participants(conn, list(new_rows.values()))
        joined: list[Joined | Exception] = []
        for a in outcomes:
            if isinstance(a, Exception):
                joined.append(a)
                continue
            pid = inserted.pop(a.browser_key, None) if a.existing is None else None
            try:
                joined.append(await self._write_join(conn, cafe, a, pid, now))
            except CauserieError as exc:
                joined.append(exc)
        return joined

    def _admit(self, request: JoinRequest, cafe: Cafe, token: tuple[int, Any] | InvitationInvalid
               | None, seen: _Seen, now: datetime) -> _Admission:
        """One join checked against what was read, in the order a lone join is: the café,
        the invitation, the pseudonym, the café's state and the role, the bans."""
        invitation: Any | None = None
        organiser_name = request.organiser_name(cafe)
        if organiser_name is not None:
            role, pseudonym = Role.ORGANISER, organiser_name
        elif isinstance(token, InvitationInvalid):
            raise token
        elif token is not None:
            invitation = _token_row(seen.invitations.get(token[0]), token[1], cafe.id, now)
            role, pseudonym = Role(invitation["role"]), request.pseudonym
        else:
            role, pseudonym = Role.PARTICIPANT, request.pseudonym
        pseudonym = cafe_rules.clean_pseudonym(pseudonym,
                                               max_length=self.limits.pseudonym_max_length)
        watch = (None if role is Role.ORGANISER
                 else self._check_pseudonym(seen.matcher, cafe.id, pseudonym))
        if cafe.status is CafeStatus.ENDED:
            raise PermissionDenied("This café has ended.")
        existing = seen.participants.get(request.browser_key)
        if existing is not None and existing["invitation_id"] is not None:
            role, invitation = _restored(role, invitation,
                                         seen.invitations.get(existing["invitation_id"]),
                                         cafe.id, now)
        _check_may_join(cafe, role)  # the final role: a stored one may have come back
        invitation_id = None if invitation is None else int(invitation["id"])
        if request.browser_key in seen.banned_keys or invitation_id in seen.banned_invitations:
            raise Banned()
        if request.address and request.address in seen.banned_addresses:
            raise Banned("Connections from your Internet address are barred from this "
                         "café for a short while.")
        return _Admission(request.browser_key, role, pseudonym, invitation, existing, watch)

    async def _write_join(self, conn: AsyncConnection, cafe: Cafe, a: _Admission,
                          pid: int | None, now: datetime) -> Joined:
        role, invitation = a.role, a.invitation
        rejoined = pid is None
        if pid is None:
            existing = a.existing
            if existing is None:  # inserted meanwhile (this batch, or another process)
                existing = await self.repo.participant_by_browser(conn, cafe.id, a.browser_key)
                assert existing is not None  # the insert found it
                if existing["invitation_id"] is not None:
                    role, invitation = _restored(
                        role, invitation,
                        await self.repo.invitation(conn, existing["invitation_id"]),
                        cafe.id, now)
                _check_may_join(cafe, role)
                if invitation is not None and await self.bans.is_banned(
                        conn, cafe.id, None, int(invitation["id"])):
                    raise Banned()
            pid = int(existing["id"])
            await self.repo.update_participant(
                conn, pid, pseudonym=a.pseudonym, role=role.value,
                invitation_id=None if invitation is None else int(invitation["id"]))
        expires_at = None if invitation is None else as_utc(invitation["expires_at"])
        invitation_id = None if invitation is None else int(invitation["id"])
        return Joined(Actor(pid, cafe.id, role, a.pseudonym), cafe, invitation_id, rejoined,
                      expires_at, a.watch)

    @staticmethod
    def _check_pseudonym(matcher: Matcher, cafe_id: int,
                         pseudonym: str) -> Mapping[str, Any] | None:
        """A watched word that holds or blocks refuses the pseudonym (it cannot wait for a
        moderator: everyone would see it at once in the presence list); one that flags lets
        it in, marked for moderators: the flag's view (`Verdict.view()`), or None."""
        verdict = matcher.verdict(pseudonym)
        if verdict.action in (WatchAction.HOLD, WatchAction.BLOCK):
            log.info("pseudonym refused by a watched word cafe=%s action=%s", cafe_id,
                     verdict.action.value)
            raise InvalidInput("This pseudonym contains “%(terms)s”, which is not accepted in "
                               "this café. Please choose another one.",
                               terms=", ".join(t for t in verdict.terms
                                               if t in _refusing(verdict)))
        if verdict.action is WatchAction.FLAG:
            log.info("pseudonym flagged by a watched word cafe=%s", cafe_id)
        return verdict.view()

    def _token_data(self, token: str) -> tuple[int, Any]:
        """The invitation id and nonce a token carries, or InvitationInvalid."""
        if len(token) > 300:
            raise InvitationInvalid()
        try:
            data = self._signer.loads(token)
        except BadSignature:
            raise InvitationInvalid() from None
        if not isinstance(data, dict) or not isinstance(data.get("i"), int):
            raise InvitationInvalid()
        return data["i"], data.get("n")

    async def _get(self, conn: AsyncConnection, slug: str, *,
                   for_update: bool = False) -> Cafe:
        cafe = await self.repo.by_slug(conn, slug, for_update=for_update)
        if cafe is None:
            raise NotFound("No such café.")
        return cafe

    async def _get_id(self, conn: AsyncConnection, cafe_id: int) -> Cafe:
        cafe = await self.repo.by_id(conn, cafe_id, for_update=True)
        if cafe is None:
            raise NotFound("No such café.")
        return cafe


def account_of(row: Any) -> Account:
    return Account(int(row["id"]), str(row["email"]), str(row["display_name"]),
                   association_id=row["association_id"],
                   platform_admin=bool(row["platform_admin"]))


def _valid(invitation: Any, cafe_id: int, now: datetime) -> bool:
    """An invitation row still gives its role in this café: not revoked, not expired."""
    return bool(invitation["cafe_id"] == cafe_id and invitation["revoked_at"] is None
                and as_utc(invitation["expires_at"]) > now)


@dataclass(frozen=True, slots=True)
class _Seen:
    """What the joins of one batch depend on, read at once."""
    matcher: Matcher  # the café's watched words
    participants: dict[str, Any]  # by browser key
    invitations: dict[int, Any]
    banned_keys: set[str]
    banned_invitations: set[int]
    banned_addresses: set[str]


@dataclass(frozen=True, slots=True)
class _Admission:
    """A join that passed its checks, not written yet."""
    browser_key: str
    role: Role
    pseudonym: str
    invitation: Any | None
    existing: Any | None  # the browser's participant row, when it comes back
    watch: Mapping[str, Any] | None = None  # a flag's words (`Joined.watch`)

    @property
    def invitation_id(self) -> int | None:
        return None if self.invitation is None else int(self.invitation["id"])


def _token_row(row: Any | None, nonce: Any, cafe_id: int, now: datetime) -> Any:
    """The invitation row of a token, when it is that token's and still valid."""
    if row is None or row["nonce"] != nonce or not _valid(row, cafe_id, now):
        raise InvitationInvalid()
    return row


def _restored(role: Role, invitation: Any | None, stored: Any | None, cafe_id: int,
              now: datetime) -> tuple[Role, Any | None]:
    """An invited browser keeps its staff role when it comes back without the link, as long
    as that invitation is still valid (never a revoked or expired one; an organiser's role
    comes from the login alone)."""
    if role is Role.PARTICIPANT and stored is not None and _valid(stored, cafe_id, now):
        return Role(stored["role"]), stored
    return role, invitation


def _refusing(verdict: Verdict) -> set[str]:
    """The terms that refuse a pseudonym (hold or block), not those that merely flag it."""
    return {m.term for m in verdict.matches
            if m.action in (WatchAction.HOLD, WatchAction.BLOCK)}


def _check_may_join(cafe: Cafe, role: Role) -> None:
    """The permission table decides who enters a café in each state."""
    if cafe.status is CafeStatus.SCHEDULED and not allows(role, Permission.JOIN_BEFORE_LIVE):
        raise PermissionDenied("This café has not started yet.")
    if cafe.status is CafeStatus.LIVE and not allows(role, Permission.JOIN_LIVE):
        raise PermissionDenied("This role cannot join a live café.")
