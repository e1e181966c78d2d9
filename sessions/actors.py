"""Who is acting: the identity the edge establishes once (at join or login) and passes in."""

from __future__ import annotations

from dataclasses import dataclass

from sessions.roles import Permission, Role, allows, require


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
