"""socket.io client managers with a cheaper room fan-out, and hooks for server-side effects.

python-socketio's `AsyncManager.emit` already encodes a room's packet once, but then creates
one asyncio task per recipient to queue it. `LocalFanout.emit` queues the same packet object
on every local socket synchronously (no task, no per-recipient coroutine), which is what
bounds the latency of an event to a large café on one core.

It sits *below* the pub/sub layer (`FanoutRedisManager`'s MRO: AsyncRedisManager ->
AsyncPubSubManager -> LocalFanout -> AsyncManager), so it also serves the messages other
processes publish. That is also where the hooks run: a process learns there that an event
reached one of its participants (`delivery_hook`: stop their media on `stage.dismissed`...)
or that a room was closed (`room_closed_hook`: the café ended), whichever process caused it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import socketio
from engineio import packet as eio_packet
from socketio import packet as sio_packet

log = logging.getLogger("causerie.signaling")

# A `skip_sid` entry starting with this marker names a room whose local members are skipped:
# the exclusion travels through Redis as a room name and every process resolves it itself.
EXCEPT_ROOM = "\x00room:"

DeliveryHook = Callable[[str, str, Any], Awaitable[None]]
RoomClosedHook = Callable[[str], Awaitable[None]]


class LocalFanout(socketio.AsyncManager):  # type: ignore[misc]
    delivery_hook: DeliveryHook | None = None
    hooked_events: frozenset[str] = frozenset()
    room_closed_hook: RoomClosedHook | None = None

    async def emit(self, event: str, data: Any, namespace: str, room: Any = None,
                   skip_sid: Any = None, callback: Any = None, to: Any = None,
                   **kwargs: Any) -> None:
        room = to or room
        if (self.delivery_hook is not None and event in self.hooked_events
                and isinstance(room, str) and self.rooms.get(namespace, {}).get(room)):
            await self.delivery_hook(room, event, data)
        if callback is not None or namespace not in self.rooms:  # not used by signaling
            await super().emit(event, data, namespace, room=room, skip_sid=skip_sid,
                               callback=callback, **kwargs)
            return
        args = list(data) if isinstance(data, tuple) else ([] if data is None else [data])
        skip = set(skip_sid) if isinstance(skip_sid, list) else {skip_sid}
        for entry in [e for e in skip if isinstance(e, str) and e.startswith(EXCEPT_ROOM)]:
            skip.discard(entry)
            skip.update(sid for sid, _ in self.get_participants(namespace,
                                                                entry[len(EXCEPT_ROOM):]))
        pkt = self.server.packet_class(sio_packet.EVENT, namespace=namespace,
                                       data=[event, *args])
        encoded = pkt.encode()
        # One engine.io packet object for everyone: engine.io caches its encoding too.
        eio_pkts = [eio_packet.Packet(eio_packet.MESSAGE, p)
                    for p in (encoded if isinstance(encoded, list) else [encoded])]
        sockets = self.server.eio.sockets
        for sid, eio_sid in self.get_participants(namespace, room):
            if sid in skip:
                continue
            sock = sockets.get(eio_sid)
            if sock is None or sock.closed:
                continue
            for p in eio_pkts:
                sock.queue.put_nowait(p)

    async def close_room(self, room: str, namespace: str) -> None:
        if self.room_closed_hook is not None:
            await self.room_closed_hook(room)
        await super().close_room(room, namespace)


class FanoutManager(LocalFanout):
    """One process."""


class FanoutRedisManager(socketio.AsyncRedisManager, LocalFanout):  # type: ignore[misc]
    """Several processes sharing rooms through Redis pub/sub."""
