"""Per-recipient costs of one socket.io event on one core, in isolation (no network):

- `compressed send`: aiohttp's `WebSocketWriter.send_frame` with permessage-deflate (what
  engine.io's aiohttp websocket does by default when the browser asks for it), per socket;
- `plain send`: the same without compression;
- `writer wakeup`: engine.io's way: `put_nowait` on each socket's queue, then its writer task
  wakes up, polls the queue and encodes the packet (`wait_for(queue.get())`, as
  `engineio.async_socket.AsyncSocket.poll`), with a plain send;
- `direct write`: `signaling.manager`'s way: one frame built per emit, `transport.write` per
  socket.

The transport is a stub that drops the bytes: the kernel's send() is not counted.

    .venv/bin/python bench/signaling_costs.py [N]
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp._websocket.writer import WebSocketWriter
from aiohttp.http_websocket import WSMsgType
from engineio import packet as eio_packet

from signaling.manager import text_frame

PAYLOAD = ('2["qa.question",{"id":42,"text":"' + "Les écrans avant dormir ? " * 5
           + '","status":"approved","anonymous":false,"author":"Marie","votes":0}]')


class Transport:
    def write(self, data: Any) -> None:
        return None

    def is_closing(self) -> bool:
        return False


class Protocol:
    _paused = False


def writers(n: int, compress: int) -> list[WebSocketWriter]:
    return [WebSocketWriter(Protocol(), Transport(), compress=compress)  # type: ignore[arg-type]
            for _ in range(n)]


async def per_socket_send(ws: list[WebSocketWriter]) -> float:
    data = ("4" + PAYLOAD).encode()
    t0 = time.perf_counter()
    for w in ws:
        await w.send_frame(data, WSMsgType.TEXT)
    return time.perf_counter() - t0


async def writer_wakeup(ws: list[WebSocketWriter]) -> float:
    n = len(ws)
    queues: list[asyncio.Queue[Any]] = [asyncio.Queue() for _ in range(n)]
    done = asyncio.Event()
    remaining = n

    async def writer(q: asyncio.Queue[Any], w: WebSocketWriter) -> None:
        nonlocal remaining
        while True:
            pkt = await asyncio.wait_for(q.get(), 45)
            if pkt is None:
                return
            await w.send_frame(pkt.encode().encode(), WSMsgType.TEXT)
            remaining -= 1
            if remaining == 0:
                done.set()

    tasks = [asyncio.create_task(writer(q, w)) for q, w in zip(queues, ws, strict=True)]
    await asyncio.sleep(0.1)
    pkt = eio_packet.Packet(eio_packet.MESSAGE, PAYLOAD)
    t0 = time.perf_counter()
    for q in queues:
        q.put_nowait(pkt)
    await done.wait()
    elapsed = time.perf_counter() - t0
    for q in queues:
        q.put_nowait(None)
    await asyncio.gather(*tasks)
    return elapsed


def direct(n: int) -> float:
    transports = [Transport() for _ in range(n)]
    t0 = time.perf_counter()
    frame = text_frame(eio_packet.Packet(eio_packet.MESSAGE, PAYLOAD).encode().encode())
    for t in transports:
        if not t.is_closing():
            t.write(frame)
    return time.perf_counter() - t0


async def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    print(f"N={n}, payload {len(PAYLOAD)} bytes; best of 5, microseconds per recipient")
    # the same writers every time: each keeps its zlib stream, as a connection does
    compressed, plain = writers(n, 15), writers(n, 0)
    runs: list[tuple[str, Callable[[], Awaitable[float]]]] = [
        ("compressed send", lambda: per_socket_send(compressed)),
        ("plain send", lambda: per_socket_send(plain)),
        ("writer wakeup + plain send", lambda: writer_wakeup(plain))]
    for name, run in runs:
        await run()  # warm-up (creates the zlib streams)
        best = min([await run() for _ in range(5)])
        print(f"  {name:28s} {best / n * 1e6:7.2f}")
    best = min(direct(n) for _ in range(5))
    print(f"  {'direct write':28s} {best / n * 1e6:7.2f}")


if __name__ == "__main__":
    asyncio.run(main())
