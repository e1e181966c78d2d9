"""Raised hands and the stage of one café, as a pure state machine (no I/O, no clock reads).

A participant raises a hand; a moderator or the expert invites them on stage
(`stage.invitation`: the parent's page says their voice will be heard by everyone and
recorded), and the parent accepts, which tells their browser to start publishing the
microphone (`stage.invited`), or declines (not an error: their hand goes down and the staff
read "declined"). Later the staff send them back (`stage.dismissed`: stop publishing). Only
a raised hand can be invited, and only an accepted invitation opens the microphone: the
browser's microphone prompt never comes as a surprise.

    raised --invite--> invited --accept--> on_stage --send_back--> (gone)
       |                  |--decline--> (gone)
       '--lower_hand------'--lower_hand (withdrawn by the staff)--> (gone)

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
    INVITED = "invited"  # asked on stage, the parent has not answered yet
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
        """Raised hands (those invited and not yet answering included), first raised first."""
        return sorted((e for e in self.entries.values() if e.state is not EntryState.ON_STAGE),
                      key=lambda e: (e.since, e.participant_id))

    def invited(self) -> list[StageEntry]:
        return [e for e in self.hands() if e.state is EntryState.INVITED]

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
    return {"hands": [_entry_view(e) | {"invited": e.state is EntryState.INVITED}
                      for e in stage.hands()]}


def speakers_view(stage: Stage) -> dict[str, Any]:
    return {"speakers": [_entry_view(e) for e in stage.speakers()]}


def snapshot_for(stage: Stage, role: Role, participant_id: int) -> dict[str, Any]:
    """The stage as one viewer may see it, on join or reconnect."""
    mine = stage.entries.get(participant_id)
    snapshot = speakers_view(stage) | {
        "hand_raised": mine is not None and mine.state is not EntryState.ON_STAGE,
        # an invitation not answered yet: the page asks again after a reload
        "invited": mine is not None and mine.state is EntryState.INVITED,
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
    """Idempotent: a second raise keeps the place in line (and a pending invitation)."""
    entry = stage.entries.get(participant_id)
    if entry is not None and entry.state is EntryState.ON_STAGE:
        raise InvalidTransition("You are already on stage.")
    if entry is None:
        stage = stage._with(StageEntry(participant_id, pseudonym, EntryState.RAISED, now))
    return stage, [_hands(stage), _to(stage, participant_id, "stage.hand", {"raised": True})]


def lower_hand(stage: Stage, participant_id: int) -> Step:
    """The participant lowers their hand, or the staff dismisses it (an invitation not yet
    answered is withdrawn with it). Idempotent."""
    entry = stage.entries.get(participant_id)
    if entry is not None and entry.state is EntryState.ON_STAGE:
        raise InvalidTransition("This participant is on stage: send them back instead.")
    if entry is not None:
        stage = stage._without(participant_id)
    return stage, [_hands(stage), _to(stage, participant_id, "stage.hand", {"raised": False})]


def _check_room(stage: Stage, stage_max: int, *, also_invited: bool) -> None:
    taken = len(stage.speakers()) + (len(stage.invited()) if also_invited else 0)
    if taken >= stage_max:
        raise InvalidInput("The stage is full (at most %(max)s speakers).", max=stage_max)


def bring_on_stage(stage: Stage, participant_id: int, *, now: datetime, stage_max: int) -> Step:
    """Invite a raised hand on stage: the parent is asked (`stage.invitation`); nothing is
    published until they accept. An invitation holds a place on the stage."""
    entry = stage.entries.get(participant_id)
    if entry is None:
        raise InvalidTransition("This participant has not raised a hand.")
    if entry.state is EntryState.ON_STAGE:
        raise InvalidTransition("This participant is already on stage.")
    if entry.state is EntryState.INVITED:
        raise InvalidTransition("This participant is already invited on stage.")
    _check_room(stage, stage_max, also_invited=True)
    stage = stage._with(dataclasses.replace(entry, state=EntryState.INVITED))
    return stage, [
        _to(stage, participant_id, "stage.invitation", {"heard_by": "everyone",
                                                        "recorded": True}),
        _hands(stage),
    ]


def accept(stage: Stage, participant_id: int, *, now: datetime, stage_max: int) -> Step:
    """The parent accepts the invitation: on stage, and their browser publishes the
    microphone now (`stage.invited`)."""
    entry = stage.entries.get(participant_id)
    if entry is None or entry.state is not EntryState.INVITED:
        raise InvalidTransition("You have not been invited on stage.")
    _check_room(stage, stage_max, also_invited=False)
    stage = stage._with(dataclasses.replace(entry, state=EntryState.ON_STAGE, since=now,
                                            muted=False))
    return stage, [
        _to(stage, participant_id, "stage.invited", {"publish": ["microphone"]}),
        _hands(stage),
        _changed(stage),
    ]


def decline(stage: Stage, participant_id: int) -> Step:
    """The parent declines: their hand goes down, and the staff read that they declined
    (`stage.declined`). Not an error."""
    entry = stage.entries.get(participant_id)
    if entry is None or entry.state is not EntryState.INVITED:
        raise InvalidTransition("You have not been invited on stage.")
    stage = stage._without(participant_id)
    return stage, [
        _to(stage, participant_id, "stage.hand", {"raised": False}),
        _hands(stage),
        Outbound("stage.declined", {"participant_id": participant_id,
                                    "pseudonym": entry.pseudonym}, Audience.STAFF,
                 stage.cafe_id),
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

