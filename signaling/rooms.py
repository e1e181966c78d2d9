"""socket.io rooms of a café, and the `Audience` of an `Outbound` mapped to its room.

    cafe:{id}              everyone joined
    cafe:{id}:moderators   roles with SEE_PENDING_QUESTIONS
    cafe:{id}:staff        expert, moderators, organisers
    participant:{id}       every socket of one participant
    invitation:{id}        every socket that joined with one invitation (closed on revocation)
    login:{hash}           every socket that joined with one organiser login (closed on logout)
    organiser:{id}         every socket of one organiser's logins (closed on a password change)
"""

from __future__ import annotations

import hashlib

from sessions.events import Audience, Outbound
from sessions.roles import Permission, Role, allows

STAFF_ROLES = frozenset({Role.EXPERT, Role.MODERATOR, Role.ORGANISER})


def cafe_room(cafe_id: int) -> str:
    return f"cafe:{cafe_id}"


def moderators_room(cafe_id: int) -> str:
    return f"cafe:{cafe_id}:moderators"


def staff_room(cafe_id: int) -> str:
    return f"cafe:{cafe_id}:staff"


def participant_room(participant_id: int) -> str:
    return f"participant:{participant_id}"


def invitation_room(invitation_id: int) -> str:
    return f"invitation:{invitation_id}"


def login_room(sid: str) -> str:
    """The room of an organiser login, named by a hash of its session id (never the id)."""
    return f"login:{hashlib.sha256(sid.encode()).hexdigest()[:32]}"


def organiser_room(organiser_id: int) -> str:
    return f"organiser:{organiser_id}"


def is_login_room(room: str) -> bool:
    return room.partition(":")[0] in ("login", "organiser")


def invitation_of_room(room: str) -> int | None:
    prefix, _, rest = room.partition(":")
    return int(rest) if prefix == "invitation" and rest.isdigit() else None


def participant_of_room(room: str) -> int | None:
    prefix, _, rest = room.partition(":")
    return int(rest) if prefix == "participant" and rest.isdigit() else None


def rooms_for(cafe_id: int, participant_id: int, role: Role) -> list[str]:
    """The rooms a socket of this participant enters on join."""
    rooms = [cafe_room(cafe_id), participant_room(participant_id)]
    if allows(role, Permission.SEE_PENDING_QUESTIONS):
        rooms.append(moderators_room(cafe_id))
    if role in STAFF_ROLES:
        rooms.append(staff_room(cafe_id))
    return rooms


def all_cafe_rooms(cafe_id: int) -> list[str]:
    return [cafe_room(cafe_id), moderators_room(cafe_id), staff_room(cafe_id)]


def room_of(event: Outbound) -> str:
    match event.audience:
        case Audience.CAFE:
            return cafe_room(event.cafe_id)
        case Audience.MODERATORS:
            return moderators_room(event.cafe_id)
        case Audience.STAFF:
            return staff_room(event.cafe_id)
        case Audience.PARTICIPANT:
            if event.participant_id is None:
                raise ValueError(f"{event.event}: a participant event without participant_id")
            return participant_room(event.participant_id)
