"""Raised hands and the stage of one café, as a pure state machine (no I/O, no clock reads).

A participant raises a hand; a moderator or the expert brings them on stage, which tells
their browser to start publishing the microphone (`stage.invited`), and later sends them
back (`stage.dismissed`: stop publishing). Only a raised hand can be brought on stage: the
parent asked to speak, so the browser's microphone prompt never comes as a surprise.

Who sees what: the list of raised hands goes to the staff (expert, moderators, organisers),
who decide; each participant hears about their own hand only (`stage.hand`); everyone sees
who is on stage (`stage.changed`).
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sessions.errors import InvalidInput, InvalidTransition
from sessions.events import Audience, Outbound
from sessions.roles import Permission, Role, allows


class EntryState(enum.StrEnum):
    RAISED = "raised"
    ON_STAGE = "on_stage"


@dataclass(frozen=True, slots=True)
class StageEntry:
    participant_id: int
    pseudonym: str
    state: EntryState
    since: datetime
    muted: bool = False


@dataclass(frozen=True, slots=True)
class Stage:
    cafe_id: int
    entries: Mapping[int, StageEntry] = field(default_factory=dict)

    def hands(self) -> list[StageEntry]:
        """Raised hands, first raised first."""
        return sorted((e for e in self.entries.values() if e.state is EntryState.RAISED),
                      key=lambda e: (e.since, e.participant_id))

    def speakers(self) -> list[StageEntry]:
        return sorted((e for e in self.entries.values() if e.state is EntryState.ON_STAGE),
                      key=lambda e: (e.since, e.participant_id))

    def is_on_stage(self, participant_id: int) -> bool:
        entry = self.entries.get(participant_id)
        return entry is not None and entry.state is EntryState.ON_STAGE

    def _with(self, entry: StageEntry) -> Stage:
        return Stage(self.cafe_id, {**self.entries, entry.participant_id: entry})

    def _without(self, participant_id: int) -> Stage:
        return Stage(self.cafe_id,
                     {k: v for k, v in self.entries.items() if k != participant_id})


Step = tuple[Stage, list[Outbound]]


# --- views -------------------------------------------------------------------------------


def _entry_view(e: StageEntry) -> dict[str, Any]:
    return {"participant_id": e.participant_id, "pseudonym": e.pseudonym,
            "since": e.since.isoformat(), "muted": e.muted}


def hands_view(stage: Stage) -> dict[str, Any]:
    return {"hands": [_entry_view(e) for e in stage.hands()]}


def speakers_view(stage: Stage) -> dict[str, Any]:
    return {"speakers": [_entry_view(e) for e in stage.speakers()]}


def snapshot_for(stage: Stage, role: Role, participant_id: int) -> dict[str, Any]:
    """The stage as one viewer may see it, on join or reconnect."""
    mine = stage.entries.get(participant_id)
    snapshot = speakers_view(stage) | {
        "hand_raised": mine is not None and mine.state is EntryState.RAISED,
        "on_stage": mine is not None and mine.state is EntryState.ON_STAGE,
        "muted": mine is not None and mine.muted,
    }
    if allows(role, Permission.MANAGE_STAGE):
        snapshot |= hands_view(stage)
    return snapshot


def _hands(stage: Stage) -> Outbound:
    return Outbound("stage.hands", hands_view(stage), Audience.STAFF, stage.cafe_id)


def _changed(stage: Stage) -> Outbound:
    return Outbound("stage.changed", speakers_view(stage), Audience.CAFE, stage.cafe_id)


def _to(stage: Stage, participant_id: int, event: str, payload: dict[str, Any]) -> Outbound:
    return Outbound(event, payload, Audience.PARTICIPANT, stage.cafe_id,
                    participant_id=participant_id)


# --- transitions -------------------------------------------------------------------------


def raise_hand(stage: Stage, participant_id: int, *, pseudonym: str, now: datetime) -> Step:
    """Idempotent: a second raise keeps the place in line and tells the same again."""
    entry = stage.entries.get(participant_id)
    if entry is not None and entry.state is EntryState.ON_STAGE:
        raise InvalidTransition("You are already on stage.")
    if entry is None:
        stage = stage._with(StageEntry(participant_id, pseudonym, EntryState.RAISED, now))
    return stage, [_hands(stage), _to(stage, participant_id, "stage.hand", {"raised": True})]


def lower_hand(stage: Stage, participant_id: int) -> Step:
    """The participant lowers their hand, or the staff dismisses it. Idempotent."""
    entry = stage.entries.get(participant_id)
    if entry is not None and entry.state is EntryState.ON_STAGE:
        raise InvalidTransition("This participant is on stage: send them back instead.")
    if entry is not None:
        stage = stage._without(participant_id)
    return stage, [_hands(stage), _to(stage, participant_id, "stage.hand", {"raised": False})]


def bring_on_stage(stage: Stage, participant_id: int, *, now: datetime, stage_max: int) -> Step:
    entry = stage.entries.get(participant_id)
    if entry is None:
        raise InvalidTransition("This participant has not raised a hand.")
    if entry.state is EntryState.ON_STAGE:
        raise InvalidTransition("This participant is already on stage.")
    if len(stage.speakers()) >= stage_max:
        raise InvalidInput("The stage is full (at most %(max)s speakers).", max=stage_max)
    stage = stage._with(dataclasses.replace(entry, state=EntryState.ON_STAGE, since=now,
                                            muted=False))
    return stage, [
        _to(stage, participant_id, "stage.invited", {"publish": ["microphone"]}),
        _hands(stage),
        _changed(stage),
    ]


def send_back(stage: Stage, participant_id: int) -> Step:
    """Off the stage (sent back by the staff, or leaving by themselves): the browser stops
    publishing, and the server must stop forwarding its track."""
    entry = stage.entries.get(participant_id)
    if entry is None or entry.state is not EntryState.ON_STAGE:
        raise InvalidTransition("This participant is not on stage.")
    stage = stage._without(participant_id)
    return stage, [_to(stage, participant_id, "stage.dismissed", {}), _changed(stage)]


def set_muted(stage: Stage, participant_id: int, *, muted: bool) -> Step:
    """A moderator mutes (or unmutes) a speaker; the browser disables its microphone track,
    and the edge stops forwarding it while muted."""
    entry = stage.entries.get(participant_id)
    if entry is None or entry.state is not EntryState.ON_STAGE:
        raise InvalidTransition("This participant is not on stage.")
    if entry.muted == muted:
        raise InvalidTransition("This speaker is already %(state)s.",
                                state="muted" if muted else "unmuted")
    stage = stage._with(dataclasses.replace(entry, muted=muted))
    return stage, [_to(stage, participant_id, "stage.muted", {"muted": muted}), _changed(stage)]


def leave(stage: Stage, participant_id: int) -> Step:
    """A participant removed from the café loses their hand and their place on stage."""
    entry = stage.entries.get(participant_id)
    if entry is None:
        return stage, []
    stage = stage._without(participant_id)
    if entry.state is EntryState.ON_STAGE:
        return stage, [_changed(stage)]
    return stage, [_hands(stage)]

