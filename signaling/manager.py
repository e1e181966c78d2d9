"""socket.io client managers with a cheaper room fan-out, and the pub/sub path of media
commands.

python-socketio's `AsyncManager.emit` already encodes a room's packet once, but then creates
one asyncio task per recipient to queue it. `LocalFanout.emit` queues the same packet object
on every local socket synchronously (no task, no per-recipient coroutine), which is what
bounds the latency of an event to a large café on one core.

Over websocket it goes further (`FastWebSocket`): the socket.io websocket is served without
per-message compression (aiohttp compresses by default and browsers ask for it: one zlib
stream per client, so one compression per recipient), the websocket frame of an emit is built
once, and it is written straight to each idle socket's transport, without waking engine.io's
writer task of every socket. A socket whose writer has something in hand (queued packets,
a send waiting on a full buffer) gets the packet through its queue as before, so packets to
one socket keep their order.

It sits *below* the pub/sub layer (`FanoutRedisManager`'s MRO: AsyncRedisManager ->
AsyncPubSubManager -> LocalFanout -> AsyncManager), so it also serves the messages other
processes publish. A process learns there that a room was closed (`room_closed_hook`: the
café ended), whichever process caused it.

Media commands (`send_command`) go to every process, this one included (`command_hook`):
through Redis as a message of their own kind when several processes run, directly
otherwise. Each process applies a command to what it holds (see `Hub.on_command`).
"""

from __future__ import annotations

import logging
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import socketio
from aiohttp import web
from engineio import packet as eio_packet
from engineio.async_drivers import aiohttp as eio_aiohttp
from socketio import packet as sio_packet

log = logging.getLogger("causerie.signaling")

# A `skip_sid` entry starting with this marker names a room whose local members are skipped:
# the exclusion travels through Redis as a room name and every process resolves it itself.
EXCEPT_ROOM = "\x00room:"

CommandHook = Callable[[dict[str, Any]], Awaitable[None]]
RoomClosedHook = Callable[[str], Awaitable[None]]
# the `method` of a pub/sub message carrying a media command (socket.io's own are `emit`...)
COMMAND_METHOD = "causerie.command"


# the attribute of an engine.io socket holding its aiohttp websocket (see `FastWebSocket`)
WS_ATTRIBUTE = "causerie_ws"


class FastWebSocket(eio_aiohttp.WebSocket):  # type: ignore[misc]
    """engine.io's aiohttp websocket wrapper, without per-message compression, that lets
    `LocalFanout` find the websocket of an engine.io socket."""

    async def __call__(self, environ: dict[str, Any]) -> web.WebSocketResponse:
        request = environ["aiohttp.request"]
        self._sock = web.WebSocketResponse(max_msg_size=self.server.max_http_buffer_size,
                                           compress=False)
        await self._sock.prepare(request)
        self.environ = environ
        eio_socket = getattr(self.handler, "__self__", None)  # the bound _websocket_handler
        if eio_socket is not None:
            setattr(eio_socket, WS_ATTRIBUTE, self._sock)
        try:
            await self.handler(self)
        finally:
            if eio_socket is not None:
                setattr(eio_socket, WS_ATTRIBUTE, None)
        return self._sock


def text_frame(payload: bytes) -> bytes:
    """One unmasked, uncompressed, final websocket text frame (RFC 6455 5.2)."""
    n = len(payload)
    if n < 126:
        header = struct.pack("!BB", 0x81, n)
    elif n < 65536:
        header = struct.pack("!BBH", 0x81, 126, n)
    else:
        header = struct.pack("!BBQ", 0x81, 127, n)
    return header + payload


def idle_transport(sock: Any) -> Any:
    """The transport of an engine.io socket that can take a frame now, written directly
    without reordering it before anything already sent to that socket; else None.

    That is a websocket whose writer task is parked on an empty queue (everything before was
    written) and whose transport is open and not paused by flow control."""
    ws: web.WebSocketResponse | None = getattr(sock, WS_ATTRIBUTE, None)
    if ws is None or not sock.upgraded or sock.upgrading or sock.closing:
        return None
    queue = sock.queue
    getters = getattr(queue, "_getters", None)  # asyncio.Queue internals (CPython 3.11-3.13)
    if not getters or not queue.empty() or getters[-1].done():
        return None
    writer = getattr(ws, "_writer", None)
    if writer is None or getattr(writer, "_closing", True) or writer.compress:
        return None
    transport = writer.transport
    if transport is None or transport.is_closing() or getattr(writer.protocol, "_paused", True):
        return None
    return transport


class LocalFanout(socketio.AsyncManager):  # type: ignore[misc]
    command_hook: CommandHook | None = None
    room_closed_hook: RoomClosedHook | None = None
    # counters: frames written directly / packets queued to the engine.io writer
    direct_writes: int = 0
    queued_writes: int = 0

    def set_server(self, server: Any) -> None:
        super().set_server(server)
        eio = server.eio
        if getattr(eio, "async_mode", None) == "aiohttp":
            eio._async = {**eio._async, "websocket": FastWebSocket}

    async def emit(self, event: str, data: Any, namespace: str, room: Any = None,
                   skip_sid: Any = None, callback: Any = None, to: Any = None,
                   **kwargs: Any) -> None:
        room = to or room
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
        # The websocket frame, built once (text packets only; binary ones go the slow way).
        frame = (text_frame(eio_pkts[0].encode().encode())
                 if len(eio_pkts) == 1 and not eio_pkts[0].binary else None)
        sockets = self.server.eio.sockets
        direct = queued = 0
        for sid, eio_sid in self.get_participants(namespace, room):
            if sid in skip:
                continue
            sock = sockets.get(eio_sid)
            if sock is None or sock.closed:
                continue
            transport = idle_transport(sock) if frame is not None else None
            if transport is not None:
                transport.write(frame)
                direct += 1
                continue
            for p in eio_pkts:
                sock.queue.put_nowait(p)
            queued += 1
        self.direct_writes += direct
        self.queued_writes += queued

    async def send_command(self, command: dict[str, Any]) -> None:
        """Carry a media command (`signaling.commands.to_wire`) to every process."""
        await self._apply_command(command)

    async def _apply_command(self, command: dict[str, Any]) -> None:
        if self.command_hook is not None:
            await self.command_hook(command)

    async def close_room(self, room: str, namespace: str) -> None:
        if self.room_closed_hook is not None:
            await self.room_closed_hook(room)
        await super().close_room(room, namespace)


class FanoutManager(LocalFanout):
    """One process."""


class FanoutRedisManager(socketio.AsyncRedisManager, LocalFanout):  # type: ignore[misc]
    """Several processes sharing rooms through Redis pub/sub."""

    async def send_command(self, command: dict[str, Any]) -> None:
        await self._apply_command(command)
        await self._publish({"method": COMMAND_METHOD, "command": command,
                             "host_id": self.host_id})

    async def _listen(self) -> AsyncIterator[Any]:
        """socket.io's messages, minus the media commands, applied here: socket.io's
        listener ignores a method it does not know."""
        async for message in super()._listen():
            data = message
            if isinstance(message, bytes | str):
                try:
                    data = self.json.loads(message)
                except ValueError:
                    data = None
            if isinstance(data, dict) and data.get("method") == COMMAND_METHOD:
                if data.get("host_id") != self.host_id:  # this one applied it when sending
                    try:
                        await self._apply_command(data.get("command") or {})
                    except Exception:
                        log.exception("media command failed")
                continue
            yield message
