"""Media commands on the wire between processes (`manager.LocalFanout.send_command`).

A command a service returned (`sessions.commands`) must be carried out by the process that
holds the café's media and the participant's sockets, which may be another one: it travels
through the socket.io manager's Redis pub/sub as a JSON object, `{"kind": ..., fields}`.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from sessions.commands import COMMAND_TYPES, MediaCommand, MediaReason

log = logging.getLogger("causerie.signaling")


def to_wire(command: MediaCommand) -> dict[str, Any]:
    return {"kind": command.kind, **dataclasses.asdict(command)}


def from_wire(data: Any) -> MediaCommand | None:
    """The command, or None (logged) for anything this version does not know."""
    cls = COMMAND_TYPES.get(str(data.get("kind"))) if isinstance(data, dict) else None
    if cls is None:
        log.warning("unknown media command kind=%s", str(data.get("kind"))[:40]
                    if isinstance(data, dict) else type(data).__name__)
        return None
    values: dict[str, Any] = {}
    try:
        for f in dataclasses.fields(cls):
            value = data[f.name]
            values[f.name] = MediaReason(value) if f.name == "reason" else value
        return cls(**values)
    except (KeyError, ValueError, TypeError):
        log.warning("malformed media command kind=%s", cls.kind)
        return None
