"""socket.io packets that can carry a value already encoded as JSON (`Fragment`).

The join ack carries the café's presence list: at the start of a popular café, 2,000 joins
each carrying up to 2,000 entries. python-socketio walks every packet's data looking for
binary parts, then encodes it: per join, the whole list twice over, the cost growing as
the square of the café. A `Fragment` holds the list's JSON text, made once per change of
presence (`MemoryPresence.members_json`); `WirePacket` skips it in the walk (it is neither
bytes nor a list nor a dict) and splices its text into the encoded packet as it is. What
the client receives is the same JSON.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from socketio import packet

__all__ = ["Fragment", "WirePacket"]

# a placeholder no text can hold by chance: random for each process, plain ASCII (so
# that its JSON form is itself, quoted)
_MARK = f"causerie-fragment-{secrets.token_hex(12)}-"


class Fragment:
    """A value encoded as JSON (trusted: made by `json.dumps` on the server)."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return f"Fragment({self.text[:40]!r}...)"


class _FragmentJSON:
    """The `json` module as socket.io uses it (`dumps`, `loads`), splicing fragments."""

    @staticmethod
    def dumps(obj: Any, **kwargs: Any) -> str:
        fragments: list[str] = []

        def default(value: Any) -> Any:
            if isinstance(value, Fragment):
                fragments.append(value.text)
                return f"{_MARK}{len(fragments) - 1}"
            raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")

        text = json.dumps(obj, default=default, **kwargs)
        for i, fragment in enumerate(fragments):
            text = text.replace(f'"{_MARK}{i}"', fragment, 1)
        return text

    @staticmethod
    def loads(text: str | bytes, **kwargs: Any) -> Any:
        return json.loads(text, **kwargs)


class WirePacket(packet.Packet):  # type: ignore[misc]
    """socket.io's packet (`AsyncServer(serializer=WirePacket)`), fragments spliced in."""

    json = _FragmentJSON
