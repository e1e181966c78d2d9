"""The table of client -> server events: the message model, the handler, whether a join is
needed. `namespace.py` dispatches from it; `protocol.md` documents it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from signaling.hub import Connection, Hub
from signaling.messages import Message

Ack = dict[str, Any]
Handler = Callable[[Hub, Connection, Any], Awaitable[Ack]]


@dataclass(frozen=True, slots=True)
class EventSpec:
    model: type[Message]
    handler: Handler
    needs_join: bool = True
