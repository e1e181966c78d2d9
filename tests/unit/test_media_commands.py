"""Media commands survive the trip between processes, and a stranger message is dropped."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from sessions.commands import COMMAND_TYPES, MediaCommand, MediaReason
from signaling.commands import from_wire, to_wire


def _samples() -> list[MediaCommand]:
    made: list[MediaCommand] = []
    for cls in COMMAND_TYPES.values():
        make: Any = cls
        names = {f.name for f in dataclasses.fields(cls)}
        if "reason" in names:
            made += [make(7, 42, reason=reason) for reason in MediaReason]
        if "muted" in names:
            made += [make(7, 42, muted=muted) for muted in (True, False)]
    return made


@pytest.mark.parametrize("command", _samples(), ids=repr)
def test_every_command_round_trips_through_json(command: MediaCommand) -> None:
    assert from_wire(json.loads(json.dumps(to_wire(command)))) == command


@pytest.mark.parametrize("data", [None, [], {}, {"kind": "launch_missiles"},
                                  {"kind": "stop_publication", "cafe_id": 1},
                                  {"kind": "stop_publication", "cafe_id": 1,
                                   "participant_id": 2, "reason": "bored"}])
def test_unknown_or_malformed_commands_are_dropped(data: object) -> None:
    assert from_wire(data) is None
