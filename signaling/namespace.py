"""The socket.io namespace: every client event goes through `CafeNamespace.dispatch`, which
counts it against the connection's rate, looks it up in the event table, checks the join,
validates the payload into its typed message, calls the handler and turns the outcome into
the ack (`{"ok": true, ...}` or `{"ok": false, "error": {"code", "message"}}`, the message
translated). Each refused event is logged once, here.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import socketio
from pydantic import ValidationError

from sessions.errors import CauserieError, InvalidInput, Unavailable
from signaling import (
    handlers_media,
    handlers_qa,
    handlers_room,
    handlers_safeguarding,
    standing,
)
from signaling.errors import (
    BACKEND_ERRORS,
    EventFlood,
    NotJoined,
    PayloadTooLarge,
    UnknownEvent,
)
from signaling.events import Ack, EventSpec
from signaling.hub import Connection, Hub
from signaling.messages import Message

log = logging.getLogger("causerie.signaling")

EVENTS: dict[str, EventSpec] = {
    **handlers_room.EVENTS,
    **handlers_media.EVENTS,
    **handlers_qa.EVENTS,
    **handlers_safeguarding.EVENTS,
}
FIELD_NAME_MAX = 40
# Names python-socketio runs as connection events on the server; a client may send an event
# with these names, which must never be taken for the real thing.
LIFECYCLE_EVENTS = frozenset({"connect", "disconnect"})
# Every name socket.io reserves (server and browser client): never a client event.
RESERVED_EVENTS = LIFECYCLE_EVENTS | frozenset(
    {"connect_error", "disconnecting", "newListener", "removeListener", "message"})
SIZE_BOUNDED_FIELDS = frozenset({"sdp"})


class _Unexpected(CauserieError):
    code = "error"
    default_message = "Something went wrong."


def parse(model: type[Message], payload: Any) -> Message:
    """The typed message, or `InvalidInput` naming the first bad field."""
    if payload is None:
        payload = {}
    if not isinstance(payload, dict):
        raise InvalidInput("The payload must be a JSON object.")
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = ".".join(str(p) for p in error["loc"])[:FIELD_NAME_MAX] or "payload"
        kind = error["type"]
        ctx = error.get("ctx") or {}
        if kind == "string_too_long" and field in SIZE_BOUNDED_FIELDS:
            raise PayloadTooLarge(field=field, max=ctx.get("max_length")) from None
        if kind == "string_too_long":
            raise InvalidInput("The field %(field)s is too long (at most %(max)s characters).",
                               field=field, max=ctx.get("max_length")) from None
        if kind == "missing":
            raise InvalidInput("The field %(field)s is required.", field=field) from None
        if kind == "extra_forbidden":
            raise InvalidInput("Unknown field: %(field)s.", field=field) from None
        raise InvalidInput("The field %(field)s is not valid.", field=field) from None


class CafeNamespace(socketio.AsyncNamespace):  # type: ignore[misc]
    def __init__(self, hub: Hub) -> None:
        super().__init__(hub.namespace)
        self.hub = hub

    async def trigger_event(self, event: str, *args: Any) -> Any:
        sid: str = args[0] if args else ""
        if event in LIFECYCLE_EVENTS and not self._connected(sid):
            # The library's own connection events: it runs them while the socket is
            # still connecting (or already disconnecting), never for a client's event.
            if event == "connect":
                environ = args[1] if len(args) > 1 else None
                request = environ.get("aiohttp.request") if isinstance(environ, dict) else None
                self.hub.connections[sid] = Connection(sid, request)
                return True
            conn = self.hub.connections.pop(sid, None)
            if conn is not None:
                await self.hub.detach(conn, disconnected=True)
            return None
        # A client's event, whatever its name: `connect`, `disconnect` and the other names
        # socket.io reserves are not in `EVENTS`, so they get `unknown_event`.
        data = args[1:]
        payload = data[0] if len(data) == 1 else (data or None)
        return await self.dispatch(sid, event, payload)

    def _connected(self, sid: str) -> bool:
        """Whether the socket is fully connected (neither connecting nor disconnecting)."""
        return bool(self.server.manager.is_connected(sid, self.namespace))

    async def dispatch(self, sid: str, event: str, payload: Any) -> Ack:
        conn = self.hub.connections.get(sid)
        if conn is None:  # a race with the disconnection
            return _error_ack("fr", NotJoined(), self.hub)
        try:
            self._count(conn)
            spec = (EVENTS.get(event) if isinstance(event, str)
                    and event not in RESERVED_EVENTS else None)
            if spec is None:
                raise UnknownEvent(event=str(event)[:FIELD_NAME_MAX])
            if spec.needs_join and conn.actor is None:
                raise NotJoined()
            # a staff role whose invitation was revoked or expired ends before this event
            await standing.check_before_event(self.hub, conn)
            message = parse(spec.model, payload)
            result = await spec.handler(self.hub, conn, message)
        except EventFlood as exc:
            if not conn.flood_logged:
                conn.flood_logged = True
                self._log_refused(conn, event, exc)
            return _error_ack(conn.lang, exc, self.hub)
        except CauserieError as exc:
            self._log_refused(conn, event, exc)
            return _error_ack(conn.lang, exc, self.hub)
        except BACKEND_ERRORS as exc:  # Redis away: say so, the client may try again
            unavailable = Unavailable()
            self._log_refused(conn, event, unavailable)
            log.warning("backend unavailable event=%s sid=%s: %s", str(event)[:FIELD_NAME_MAX],
                        sid, type(exc).__name__)
            return _error_ack(conn.lang, unavailable, self.hub)
        except Exception:
            actor = conn.actor
            log.exception("event failed event=%s cafe=%s participant=%s sid=%s", event[:40],
                          actor.cafe_id if actor else None,
                          actor.participant_id if actor else None, sid)
            return _error_ack(conn.lang, _Unexpected(), self.hub)
        return {"ok": True, **result}

    def _count(self, conn: Connection) -> None:
        """At most `events_per_second` per connection; twice that and the server hangs up."""
        now = time.monotonic()
        if now - conn.window_start >= 1.0:
            conn.window_start, conn.window_count, conn.flood_logged = now, 0, False
        conn.window_count += 1
        limit = self.hub.limits.events_per_second
        if conn.window_count > limit:
            if conn.window_count == 2 * limit + 1:
                self.hub.spawn(self.hub.sio.disconnect(conn.sid, namespace=self.hub.namespace))
            raise EventFlood()

    @staticmethod
    def _log_refused(conn: Connection, event: Any, exc: CauserieError) -> None:
        actor = conn.actor
        log.info("event refused event=%s code=%s cafe=%s participant=%s sid=%s: %s",
                 str(event)[:FIELD_NAME_MAX], exc.code, actor.cafe_id if actor else None,
                 actor.participant_id if actor else None, conn.sid, exc)


def _error_ack(lang: str, exc: CauserieError, hub: Hub) -> Ack:
    try:
        message = hub.translate(lang, exc)
    except Exception:  # a bad catalog entry must not hide the error itself
        message = str(exc)
    return {"ok": False, "error": {"code": exc.code, "message": message}}
