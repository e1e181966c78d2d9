"""What a service returns for the edge to emit: an event name, a payload and its audience.

The domain decides who may see what (pending questions reach moderators only, an anonymous
author's pseudonym too); the edge only maps an audience to its socket.io room.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class Audience(enum.StrEnum):
    CAFE = "cafe"  # everyone in the café's room
    MODERATORS = "moderators"  # those with SEE_PENDING_QUESTIONS (moderators, organisers)
    STAFF = "staff"  # expert, moderators, organisers
    PARTICIPANT = "participant"  # one participant (participant_id)


@dataclass(frozen=True, slots=True)
class Outbound:
    event: str
    payload: dict[str, Any]
    audience: Audience
    cafe_id: int
    participant_id: int | None = None
    # Participants of the audience who must not get this copy (they get their own version).
    exclude: tuple[int, ...] = field(default=())
