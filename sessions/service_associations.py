"""The association service: associations, their organisers, organiser invitations.

Who may do what comes from `sessions.roles` (through `Account`); every call takes the
account acting. The command line acts as `OPERATOR` (whoever runs it has the machine).
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy.ext.asyncio import AsyncConnection

from sessions import associations as rules
from sessions.actors import Account
from sessions.associations import Association, AssociationDraft
from sessions.clock import Clock
from sessions.errors import InvalidInput, InvitationInvalid, NotFound, PermissionDenied
from sessions.figures import CafeFigures
from sessions.roles import AccountPermission
from sessions.storage.database import Database, as_utc
from sessions.storage.repo_associations import AssociationRepository
from sessions.storage.repo_cafes import CafeRepository
from sessions.storage.repo_figures import association_figures, raise_peak

log = logging.getLogger("causerie.associations")

OPERATOR = Account(0, "", "operator", association_id=None, platform_admin=True)
TOKEN_MAX = 300


@dataclass(frozen=True, slots=True)
class OrganiserInvitation:
    id: int
    association_id: int
    expires_at: datetime
    used: bool
    revoked: bool
    token: str


def may_staff(account: Account, association_id: int) -> bool:
    """Invite or remove an association's organisers: its own organisers, and the platform
    administrator (who makes the first one)."""
    return (account.can(AccountPermission.MANAGE_ASSOCIATIONS)
            or account.can(AccountPermission.ADMINISTER_ASSOCIATION, association_id))


class AssociationService:
    def __init__(self, db: Database, clock: Clock, secret_key: str, *,
                 first_name: str = "Causerie",
                 invitation_ttl: timedelta = timedelta(days=7)) -> None:
        self.db = db
        self.clock = clock
        self.repo = AssociationRepository()
        self.cafes = CafeRepository()
        self.first_name = first_name
        self.invitation_ttl = invitation_ttl
        self._signer = URLSafeTimedSerializer(secret_key, salt="causerie.organiser-invitation")

    # associations

    async def default(self, conn: AsyncConnection) -> Association:
        """The first association (made, with the configured name, if there is none)."""
        first = await self.repo.first(conn)
        if first is not None:
            return first
        draft = rules.validate_association(name=self.first_name)
        return await self.repo.insert(conn, rules.slug_from_name(draft.name), draft,
                                      self.clock.now())

    async def first(self) -> Association:
        async with self.db.transaction() as conn:
            return await self.default(conn)

    async def create(self, account: Account, draft: AssociationDraft,
                     slug: str | None = None) -> Association:
        if not account.can(AccountPermission.MANAGE_ASSOCIATIONS):
            raise PermissionDenied("Only the platform administrator creates associations.")
        chosen = rules.validate_slug(slug if slug else rules.slug_from_name(draft.name))
        async with self.db.transaction() as conn:
            if await self.repo.slug_exists(conn, chosen):
                if slug:
                    raise InvalidInput("An association already has this slug.")
                base, n = chosen[: rules.SLUG_MAX - 4], 1
                while await self.repo.slug_exists(conn, chosen):
                    n += 1
                    chosen = f"{base}-{n}"
            association = await self.repo.insert(conn, chosen, draft, self.clock.now())
        log.info("association created association=%s slug=%s", association.id, chosen)
        return association

    async def get(self, slug: str) -> Association:
        async with self.db.connect() as conn:
            found = await self.repo.by_slug(conn, slug[: rules.SLUG_MAX])
        if found is None:
            raise NotFound("No such association.")
        return found

    async def get_by_id(self, association_id: int) -> Association:
        async with self.db.connect() as conn:
            found = await self.repo.by_id(conn, association_id)
        if found is None:
            raise NotFound("No such association.")
        return found

    async def all(self) -> list[Association]:
        async with self.db.connect() as conn:
            return await self.repo.all(conn)

    async def administered(self, account: Account, slug: str) -> Association:
        """The association `account` administers under this slug, or PermissionDenied."""
        association = await self.get(slug)
        account.require(AccountPermission.ADMINISTER_ASSOCIATION, association.id)
        return association

    async def update(self, account: Account, slug: str,
                     draft: AssociationDraft) -> Association:
        association = await self.administered(account, slug)
        async with self.db.transaction() as conn:
            await self.repo.update(conn, association.id, draft)
        log.info("association edited association=%s", association.id)
        return await self.get(slug)

    async def set_logo(self, account: Account, slug: str, logo: str | None,
                       logo_type: str | None) -> str | None:
        """Store the new logo's file name; returns the old one (for the edge to delete)."""
        association = await self.administered(account, slug)
        async with self.db.transaction() as conn:
            await self.repo.set_logo(conn, association.id, logo, logo_type)
        log.info("association logo set association=%s", association.id)
        return association.logo

    async def figures(self, account: Account, association: Association) -> list[CafeFigures]:
        """Its cafés' figures, for its own organisers only."""
        account.require(AccountPermission.ADMINISTER_ASSOCIATION, association.id)
        async with self.db.connect() as conn:
            return await association_figures(conn, association.id)

    async def record_peak(self, cafe_id: int, peak: int, *, final: bool = False) -> bool:
        """The café's peak of parents present at once reached `peak` (`signaling.peaks`,
        never a person's request): stored if higher; `final` (the café's end) also once it
        is no longer live. True when it was raised."""
        if peak < 0:
            raise ValueError("a peak is never negative")
        async with self.db.transaction() as conn:
            raised = await raise_peak(conn, cafe_id, peak, live_only=not final)
        if raised:
            log.info("attendance peak cafe=%s peak=%s final=%s", cafe_id, peak, final)
        return raised

    # organisers

    async def organisers(self, account: Account, association: Association) -> list[Any]:
        if not may_staff(account, association.id):
            raise PermissionDenied("This belongs to another association.")
        async with self.db.connect() as conn:
            return await self.repo.organisers(conn, association.id)

    async def remove_organiser(self, account: Account, association: Association,
                               organiser_id: int) -> None:
        """Remove an organiser from the association (their account goes); never the last."""
        if not may_staff(account, association.id):
            raise PermissionDenied("This belongs to another association.")
        async with self.db.transaction() as conn:
            members = await self.repo.organisers(conn, association.id, for_update=True)
            if organiser_id not in {int(m["id"]) for m in members}:
                raise NotFound("No such organiser in this association.")
            if len(members) <= 1:
                raise InvalidInput("The last organiser of an association cannot be removed.")
            await self.repo.delete_organiser(conn, organiser_id)
        log.info("organiser removed association=%s organiser=%s", association.id, organiser_id)

    # organiser invitations

    async def invite_organiser(self, account: Account,
                               association: Association) -> OrganiserInvitation:
        if not may_staff(account, association.id):
            raise PermissionDenied("This belongs to another association.")
        now = self.clock.now()
        nonce = secrets.token_urlsafe(24)
        expires_at = now + self.invitation_ttl
        async with self.db.transaction() as conn:
            invitation_id = await self.repo.insert_invitation(
                conn, association.id, nonce, account.id or None, expires_at, now)
        log.info("organiser invitation created association=%s invitation=%s", association.id,
                 invitation_id)
        return OrganiserInvitation(invitation_id, association.id, expires_at, False, False,
                                   self._token(invitation_id, nonce))

    async def invitations(self, account: Account,
                          association: Association) -> list[OrganiserInvitation]:
        if not may_staff(account, association.id):
            raise PermissionDenied("This belongs to another association.")
        async with self.db.connect() as conn:
            rows = await self.repo.invitations(conn, association.id)
        return [OrganiserInvitation(r["id"], r["association_id"], as_utc(r["expires_at"]),
                                    r["used_at"] is not None, r["revoked_at"] is not None,
                                    self._token(r["id"], r["nonce"])) for r in rows]

    async def revoke_invitation(self, account: Account, association: Association,
                                invitation_id: int) -> None:
        if not may_staff(account, association.id):
            raise PermissionDenied("This belongs to another association.")
        async with self.db.transaction() as conn:
            row = await self.repo.invitation(conn, invitation_id, for_update=True)
            if row is None or row["association_id"] != association.id:
                raise NotFound("No such invitation.")
            await self.repo.mark_invitation(conn, invitation_id, revoked_at=self.clock.now())
        log.info("organiser invitation revoked association=%s invitation=%s", association.id,
                 invitation_id)

    def _token(self, invitation_id: int, nonce: str) -> str:
        return str(self._signer.dumps({"o": invitation_id, "n": nonce}))

    async def check_invitation(self, token: str) -> tuple[int, Association]:
        """The invitation's id and its association, or InvitationInvalid (bad signature,
        expired, revoked, already used)."""
        if not token or len(token) > TOKEN_MAX:
            raise InvitationInvalid()
        try:
            data = self._signer.loads(token, max_age=int(self.invitation_ttl.total_seconds()))
        except BadSignature:  # SignatureExpired is one
            raise InvitationInvalid() from None
        if not isinstance(data, dict) or not isinstance(data.get("o"), int):
            raise InvitationInvalid()
        async with self.db.connect() as conn:
            row = await self.repo.invitation(conn, data["o"])
            if row is None or not self._usable(row, data):
                raise InvitationInvalid()
            association = await self.repo.by_id(conn, row["association_id"])
        if association is None:
            raise InvitationInvalid()
        return int(row["id"]), association

    def _usable(self, row: Any, data: dict[str, Any]) -> bool:
        return bool(row["nonce"] == data.get("n") and row["used_at"] is None
                    and row["revoked_at"] is None
                    and as_utc(row["expires_at"]) > self.clock.now())

    async def accept_invitation(self, token: str, *, email: str, display_name: str,
                                password_hash: str) -> tuple[int, Association]:
        """Create the invited organiser's account; the link is used up (once only)."""
        invitation_id, association = await self.check_invitation(token)
        now = self.clock.now()
        async with self.db.transaction() as conn:
            row = await self.repo.invitation(conn, invitation_id, for_update=True)
            if row is None or row["used_at"] is not None or row["revoked_at"] is not None:
                raise InvitationInvalid()
            if await self.cafes.organiser_by_email(conn, email) is not None:
                raise InvalidInput("An organiser with this e-mail address already exists.")
            organiser_id = await self.cafes.insert_organiser(
                conn, email, display_name, password_hash, now, association_id=association.id)
            await self.repo.mark_invitation(conn, invitation_id, used_at=now)
        log.info("organiser joined association=%s organiser=%s", association.id, organiser_id)
        return organiser_id, association
