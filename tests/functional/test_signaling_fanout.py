"""The room fan-out of `signaling.manager` (frames built once, written directly to idle
websockets, no per-message compression) and the batching of presence changes, with real
socket.io clients over websocket against the real app."""

from __future__ import annotations

import asyncio
import struct
from typing import Any, cast

import aiohttp
import pytest
from signaling_fixtures import Live, make_cafe

from signaling.keys import HUB, SOCKETIO
from signaling.manager import LocalFanout, text_frame
from signaling.presence import MemoryPresence, PresenceBatcher, PresenceEntry


def test_text_frame_headers() -> None:
    assert text_frame(b"42") == b"\x81\x0242"
    assert text_frame(b"x" * 200)[:4] == b"\x81\x7e" + struct.pack("!H", 200)
    big = text_frame(b"y" * 70_000)
    assert big[:2] == b"\x81\x7f" and struct.unpack("!Q", big[2:10])[0] == 70_000
    assert len(big) == 70_010


async def test_room_events_are_written_once_directly_and_uncompressed(live: Live) -> None:
    cafe = await make_cafe(live.cafes, live=True)
    sio: Any = live.app[SOCKETIO]
    manager = cast(LocalFanout, sio.manager)
    peers = [await live.peer() for _ in range(4)]
    for i, peer in enumerate(peers):
        assert (await peer.join(cafe, f"P{i}"))["ok"] is True
    # a raw websocket that asks for permessage-deflate: the server declines it
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(f"{live.url}socket.io/?EIO=4&transport=websocket",
                                      compress=15)
        assert ws.compress == 0
        await ws.close()
    await asyncio.sleep(0.5)  # presence diffs are out; every writer is idle again
    direct0, queued0 = manager.direct_writes, manager.queued_writes
    for n in range(3):
        assert (await peers[0].call("chat.send", {"text": f"Bonjour {n}"}))["ok"] is True
    for peer in peers:
        texts = [(await peer.next("chat.message", count=k + 1))["text"] for k in range(3)]
        assert texts == ["Bonjour 0", "Bonjour 1", "Bonjour 2"]  # in order
    assert manager.direct_writes - direct0 >= 3 * len(peers) - 1
    assert manager.direct_writes + manager.queued_writes - direct0 - queued0 == 3 * len(peers)


async def test_a_busy_socket_gets_its_packets_in_order(live: Live) -> None:
    """Packets already queued for a socket are not overtaken by a direct write."""
    cafe = await make_cafe(live.cafes, live=True)
    sio: Any = live.app[SOCKETIO]
    manager = cast(LocalFanout, sio.manager)
    a, b = await live.peer(), await live.peer()
    assert (await a.join(cafe, "A"))["ok"] and (await b.join(cafe, "B"))["ok"]
    await asyncio.sleep(0.5)
    room = f"cafe:{cafe.id}"
    queued0 = manager.queued_writes
    # many emits in one go: the first are written directly, then the engine.io writer of
    # each socket may be busy; whichever way each goes, the order holds
    for n in range(50):
        await sio.emit("chat.message", {"id": n, "text": str(n)}, room=room)
    for peer in (a, b):
        await peer.next("chat.message", count=50)
        assert [m["id"] for m in peer.events["chat.message"]] == list(range(50))
    assert manager.queued_writes >= queued0


async def test_presence_changes_are_batched(live: Live) -> None:
    cafe = await make_cafe(live.cafes, live=True)
    watcher = await live.peer()
    assert (await watcher.join(cafe, "Watcher"))["ok"] is True
    await watcher.presence_change(joined=watcher.me["id"])
    peers = [await live.peer() for _ in range(8)]
    acks = await asyncio.gather(*(p.join(cafe, f"P{i}") for i, p in enumerate(peers)))
    ids = {ack["participant"]["id"] for ack in acks}
    for pid in ids:
        await watcher.presence_change(joined=pid)
    diffs = watcher.events["presence.changed"]
    assert set(watcher.presence_ids("joined")) == ids | {watcher.me["id"]}
    assert len(diffs) < 1 + len(ids)  # batched: fewer diffs than arrivals
    hub = live.app[HUB]
    assert hub.presence_changes.interval == pytest.approx(0.3)


async def test_batcher_coalesces_and_checks_the_store() -> None:
    store = MemoryPresence()
    sent: list[tuple[int, dict[str, Any]]] = []
    tasks: set[asyncio.Task[None]] = set()

    async def emit(cafe_id: int, diff: dict[str, Any]) -> None:
        sent.append((cafe_id, diff))

    def spawn(coro: Any) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    batcher = PresenceBatcher(store, emit, spawn, interval=0.2)
    marie, paul = PresenceEntry(1, "Marie", "participant"), PresenceEntry(2, "Paul", "participant")
    await store.add(7, marie, "s1")
    batcher.joined(7, marie)
    await asyncio.sleep(0.05)  # the first change after a quiet moment goes out at once
    assert sent == [(7, {"joined": [marie.view()], "left": [], "count": 1})]
    await store.add(7, paul, "s2")
    batcher.joined(7, paul)
    await store.remove(7, 1, "s1")
    batcher.left(7, 1)
    await store.remove(7, 2, "s2")  # Paul left before the batch went out ...
    await asyncio.sleep(0.05)
    assert len(sent) == 1  # ... which waits for the interval
    await asyncio.sleep(0.3)
    # Paul's arrival is dropped (no longer present); Marie's departure is sent
    assert sent[1] == (7, {"joined": [], "left": [1], "count": 0})
    # a departure reversed meanwhile (back on another process) is not sent
    await store.add(7, marie, "s3")
    batcher.left(7, 1)
    await asyncio.sleep(0.35)
    assert len(sent) == 2
    assert not tasks
