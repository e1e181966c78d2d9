"""What a service returns for the edge to emit: an event name, a payload and its audience;
and `Effects`, those events with the media commands to carry out beside them.

The domain decides who may see what (pending questions reach moderators only, an anonymous
author's pseudonym too); the edge only maps an audience to its socket.io room.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sessions.commands import MediaCommand


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


@dataclass(frozen=True, slots=True)
class Effects:
    """What a service action returns when it has an effect on the media plane: its events
    (to emit) and its commands (to carry out). Iterating gives the events, like the plain
    list other actions return."""

    events: tuple[Outbound, ...]
    commands: tuple[MediaCommand, ...] = ()

    @classmethod
    def of(cls, result: Effects | Iterable[Outbound]) -> Effects:
        return result if isinstance(result, Effects) else cls(tuple(result))

    def __iter__(self) -> Iterator[Outbound]:
        return iter(self.events)

    def __len__(self) -> int:
        return len(self.events)
