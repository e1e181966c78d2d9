"""Commands a service returns beside its events, for the media plane to carry out.

An event tells people what happened (`stage.dismissed` to the speaker, `stage.changed` to
the café); a command tells the media plane what to do about it (stop forwarding that
speaker). A service that wants a media effect says so in what it returns (`Effects`), so a
reader of `StageService.send_back` sees that it stops a publication, and nothing anywhere
decides a media action from an event's name.

The commands are plain values: the edge (`signaling`) carries them to the process that
holds the café's media and the participant's sockets (through Redis when several processes
run) and applies them there.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import ClassVar


class MediaReason(enum.StrEnum):
    """Why a participant's media stops (sent to them in `media.stopped {reason}`)."""

    DISMISSED = "dismissed"  # sent back from the stage
    MUTED = "muted"  # a moderator muted them
    REMOVED = "removed"  # removed or banned from the café
    REVOKED = "revoked"  # their invitation was revoked or expired


@dataclass(frozen=True, slots=True)
class StopPublication:
    """Stop receiving and forwarding the participant's published tracks; free their slots."""

    kind: ClassVar[str] = "stop_publication"
    cafe_id: int
    participant_id: int
    reason: MediaReason


@dataclass(frozen=True, slots=True)
class SetMuted:
    """Mute (or unmute) the participant's audio: while muted it is neither forwarded nor
    recorded. The stored stage state is the truth; publishing applies it again."""

    kind: ClassVar[str] = "set_muted"
    cafe_id: int
    participant_id: int
    muted: bool


@dataclass(frozen=True, slots=True)
class DisconnectMedia:
    """Close the participant's publication and subscription; their sockets stay."""

    kind: ClassVar[str] = "disconnect_media"
    cafe_id: int
    participant_id: int
    reason: MediaReason


@dataclass(frozen=True, slots=True)
class DisconnectParticipant:
    """Disconnect every socket of the participant (their media closes with them)."""

    kind: ClassVar[str] = "disconnect_participant"
    cafe_id: int
    participant_id: int
    reason: MediaReason


@dataclass(frozen=True, slots=True)
class BanAddress:
    """Bar the Internet address of the participant's sockets from the café for `minutes`:
    only the process holding those sockets knows it (it is stored until the ban ends and
    never logged). Sent before `DisconnectParticipant`."""

    kind: ClassVar[str] = "ban_address"
    cafe_id: int
    participant_id: int
    minutes: int


MediaCommand = StopPublication | SetMuted | DisconnectMedia | DisconnectParticipant | BanAddress

COMMAND_TYPES: dict[str, type[MediaCommand]] = {
    cls.kind: cls for cls in (StopPublication, SetMuted, DisconnectMedia, DisconnectParticipant,
                              BanAddress)
}
