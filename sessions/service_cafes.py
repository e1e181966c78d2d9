"""The café service: create and edit cafés, invitations, joining, opening and ending.

Takes parsed inputs, checks the permission table, applies the pure lifecycle in
`sessions.cafe`, persists in one transaction and returns the events to emit.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy.ext.asyncio import AsyncConnection

from sessions import cafe as cafe_rules
from sessions.actors import Actor
from sessions.cafe import Cafe, CafeDraft, CafeEnded, CafeOpened, CafeStatus
from sessions.clock import Clock
from sessions.commands import MediaReason, StopPublication
from sessions.errors import Banned, InvalidInput, InvitationInvalid, NotFound, PermissionDenied
from sessions.events import Audience, Effects, Outbound
from sessions.roles import Permission, Role, allows
from sessions.service_watch import WatchService
from sessions.storage.database import Database, as_utc
from sessions.storage.repo_cafes import CafeRepository
from sessions.storage.repo_moderation import ModerationRepository
from sessions.watchwords import WatchAction

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


@dataclass(frozen=True, slots=True)
class Joined:
    actor: Actor
    cafe: Cafe
    invitation_id: int | None
    rejoined: bool
    # when the invitation behind a staff role expires (None: no invitation)
    invitation_expires_at: datetime | None = None


class CafeService:
    def __init__(self, db: Database, clock: Clock, secret_key: str, *,
                 invitation_ttl: timedelta = timedelta(days=14),
                 pseudonym_max_length: int = 40, watch: WatchService | None = None) -> None:
        self.db = db
        self.clock = clock
        self.watch = watch or WatchService(db, clock)
        self.repo = CafeRepository()
        self.bans = ModerationRepository()
        self._signer = URLSafeTimedSerializer(secret_key, salt="causerie.invitation")
        self.invitation_ttl = invitation_ttl
        self.pseudonym_max_length = pseudonym_max_length

    # cafés

    async def create_cafe(self, draft: CafeDraft, organiser_id: int | None) -> Cafe:
        async with self.db.transaction() as conn:
            base = cafe_rules.slugify(draft.title, draft.starts_at)
            slug, n = base, 1
            while await self.repo.slug_exists(conn, slug):
                n += 1
                slug = f"{base}-{n}"
            cafe = await self.repo.insert(conn, slug, draft, organiser_id, self.clock.now())
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

    async def organiser_name(self, organiser_id: int) -> str | None:
        """The display name of an organiser account (None when there is no such account)."""
        async with self.db.connect() as conn:
            row = await self.repo.organiser_by_id(conn, organiser_id)
        return None if row is None else str(row["display_name"])

    async def portal(self, theme: str | None = None) -> PortalListing:
        async with self.db.connect() as conn:
            every = await self.repo.all(conn, theme=theme, limit=500)
            themes = await self.repo.themes(conn)
        live = [c for c in every if c.status is CafeStatus.LIVE]
        upcoming = [c for c in every if c.status is CafeStatus.SCHEDULED]
        past = sorted((c for c in every if c.status is CafeStatus.ENDED),
                      key=lambda c: c.starts_at, reverse=True)
        return PortalListing(live, upcoming, past, themes)

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
        if len(token) > 300:
            raise InvitationInvalid()
        try:
            data = self._signer.loads(token)
        except BadSignature:
            raise InvitationInvalid() from None
        if not isinstance(data, dict) or not isinstance(data.get("i"), int):
            raise InvitationInvalid()
        async with self.db.connect() as conn:
            row = await self.repo.invitation(conn, data["i"])
        if row is None or row["nonce"] != data.get("n") or not _valid(row, cafe_id,
                                                                        self.clock.now()):
            raise InvitationInvalid()
        return int(row["id"]), Role(row["role"])

    # joining

    async def join(self, slug: str, *, browser_key: str, pseudonym: str,
                   invitation_token: str | None = None,
                   organiser_name: str | None = None, address: str | None = None) -> Joined:
        """Admit a browser to a café, as a guest parent, an invited expert or moderator, or an
        organiser logged in on the admin pages. The same browser rejoins as the same
        participant."""
        if not (BROWSER_KEY_LENGTH[0] <= len(browser_key) <= BROWSER_KEY_LENGTH[1]
                and browser_key.isascii() and browser_key.replace("-", "").isalnum()):
            raise InvalidInput("Invalid browser key.")
        cafe = await self.get(slug)
        invitation_id: int | None = None
        if organiser_name is not None:
            role = Role.ORGANISER
            pseudonym = organiser_name
        elif invitation_token:
            invitation_id, role = await self.check_invitation(cafe.id, invitation_token)
        else:
            role = Role.PARTICIPANT
        pseudonym = cafe_rules.clean_pseudonym(pseudonym, max_length=self.pseudonym_max_length)
        if role is not Role.ORGANISER:
            await self._check_pseudonym(cafe.id, pseudonym)
        if cafe.status is CafeStatus.ENDED:
            raise PermissionDenied("This café has ended.")
        now = self.clock.now()
        early = cafe.status is CafeStatus.SCHEDULED
        if early and not allows(role, Permission.JOIN_BEFORE_LIVE) and not (
                role is Role.PARTICIPANT and await self._keeps_staff_role(cafe, browser_key, now)):
            raise PermissionDenied("This café has not started yet.")
        async with self.db.transaction() as conn:
            if await self.bans.is_banned(conn, cafe.id, browser_key, invitation_id):
                raise Banned()
            if address and await self.bans.address_banned(conn, cafe.id, address, now):
                raise Banned("Connections from your Internet address are barred from this "
                             "café for a short while.")
            # One atomic statement: two first joins of one browser at once get one row.
            pid = await self.repo.insert_participant(
                conn, cafe_id=cafe.id, pseudonym=pseudonym, role=role.value,
                browser_key=browser_key, invitation_id=invitation_id, now=now)
            rejoined = pid is None
            if pid is None:
                existing = await self.repo.participant_by_browser(conn, cafe.id, browser_key)
                assert existing is not None  # the insert found it
                pid = int(existing["id"])
                # An invited browser keeps its staff role when it comes back without the
                # link, as long as that invitation is still valid (never a revoked or
                # expired one; an organiser's role comes from the login alone).
                if role is Role.PARTICIPANT and existing["invitation_id"] is not None:
                    stored = await self.repo.invitation(conn, existing["invitation_id"])
                    if stored is not None and _valid(stored, cafe.id, now):
                        role, invitation_id = Role(stored["role"]), int(stored["id"])
                if early and not allows(role, Permission.JOIN_BEFORE_LIVE):
                    # its invitation ended since `_keeps_staff_role` read it
                    raise PermissionDenied("This café has not started yet.")
                await self.repo.update_participant(conn, pid, pseudonym=pseudonym,
                                                   role=role.value, invitation_id=invitation_id)
            _check_may_join(cafe, role)  # the final role: a stored one may have come back
            expires_at = None
            if invitation_id is not None:
                stored = await self.repo.invitation(conn, invitation_id)
                expires_at = None if stored is None else as_utc(stored["expires_at"])
        log.info("joined cafe=%s participant=%s role=%s", cafe.id, pid, role)
        return Joined(Actor(pid, cafe.id, role, pseudonym), cafe, invitation_id, rejoined,
                      expires_at)

    async def _check_pseudonym(self, cafe_id: int, pseudonym: str) -> None:
        """A watched word that holds or blocks refuses the pseudonym (it cannot wait for a
        moderator: everyone would see it at once)."""
        verdict = await self.watch.verdict(cafe_id, pseudonym)
        if verdict.action in (WatchAction.HOLD, WatchAction.BLOCK):
            log.info("pseudonym refused by a watched word cafe=%s", cafe_id)
            raise InvalidInput("This pseudonym contains “%(terms)s”, which is not accepted in "
                               "this café. Please choose another one.",
                               terms=", ".join(t for t in verdict.terms))

    async def _keeps_staff_role(self, cafe: Cafe, browser_key: str, now: datetime) -> bool:
        """Does this browser come back to a role that may enter before the opening (an
        invited expert or moderator rejoining without the link, invitation still valid)?"""
        async with self.db.connect() as conn:
            existing = await self.repo.participant_by_browser(conn, cafe.id, browser_key)
            if existing is None or existing["invitation_id"] is None:
                return False
            stored = await self.repo.invitation(conn, existing["invitation_id"])
        return (stored is not None and _valid(stored, cafe.id, now)
                and allows(Role(stored["role"]), Permission.JOIN_BEFORE_LIVE))

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


def _valid(invitation: Any, cafe_id: int, now: datetime) -> bool:
    """An invitation row still gives its role in this café: not revoked, not expired."""
    return bool(invitation["cafe_id"] == cafe_id and invitation["revoked_at"] is None
                and as_utc(invitation["expires_at"]) > now)


def _check_may_join(cafe: Cafe, role: Role) -> None:
    """The permission table decides who enters a café in each state."""
    if cafe.status is CafeStatus.SCHEDULED and not allows(role, Permission.JOIN_BEFORE_LIVE):
        raise PermissionDenied("This café has not started yet.")
    if cafe.status is CafeStatus.LIVE and not allows(role, Permission.JOIN_LIVE):
        raise PermissionDenied("This role cannot join a live café.")
