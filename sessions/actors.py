"""Who is acting: the identity the edge establishes once (at join or login) and passes in."""

from __future__ import annotations

from dataclasses import dataclass

from sessions.errors import PermissionDenied
from sessions.roles import (
    AccountPermission,
    Permission,
    Role,
    account_allows,
    allows,
    cafe_role_of_account,
    require,
)


@dataclass(frozen=True, slots=True)
class Actor:
    """A participant of one café (or an organiser acting from the admin pages)."""

    participant_id: int
    cafe_id: int
    role: Role
    pseudonym: str
    on_stage: bool = False

    def can(self, permission: Permission) -> bool:
        return allows(self.role, permission, on_stage=self.on_stage)

    def require(self, permission: Permission) -> None:
        require(self.role, permission, on_stage=self.on_stage)

    @property
    def label(self) -> str:
        """How the audit log names this actor."""
        return f"{self.role.value}:{self.pseudonym}#{self.participant_id}"


@dataclass(frozen=True, slots=True)
class Account:
    """Someone logged in on the admin pages: an organiser of one association, and/or the
    platform administrator. What they may do is decided in `sessions.roles`."""

    id: int
    email: str
    display_name: str
    association_id: int | None = None
    platform_admin: bool = False

    def can(self, permission: AccountPermission, association_id: int | None = None) -> bool:
        return account_allows(permission, platform_admin=self.platform_admin,
                              association_id=self.association_id,
                              target_association=association_id)

    def require(self, permission: AccountPermission, association_id: int | None = None) -> None:
        if not self.can(permission, association_id):
            raise PermissionDenied("This belongs to another association.")

    def role_in(self, cafe_association: int) -> Role | None:
        return cafe_role_of_account(association_id=self.association_id,
                                    cafe_association=cafe_association)
