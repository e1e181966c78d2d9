"""What the socket.io benches share (not a bench itself): a light socket.io client, and the
machine's figures printed beside theirs.

`Client` speaks just enough engine.io v4 / socket.io v5 over one websocket for thousands of
them in a few processes: connect, events with an ack (`call`), pongs; every other packet a
server sends goes to `on_event` (the raw text, ``42[...]``), which a bench's subclass
overrides to time or keep what it measures. Used by `signaling_fanout.py`,
`join_storm.py` and `captions_load.py`.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import secrets
import socket
import time
import urllib.request
from pathlib import Path
from typing import Any, Self

import aiohttp

__all__ = ["Client", "cpu_seconds", "free_port", "loadavg", "machine", "wait_healthy"]


class Client:
    """One socket.io client over one websocket (see the module's docstring)."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.acks: dict[int, asyncio.Future[Any]] = {}
        self.next_id = 0
        self.reader: asyncio.Task[None] | None = None

    @classmethod
    async def open(cls, session: aiohttp.ClientSession, url: str) -> Self:
        ws = await session.ws_connect(f"{url}/socket.io/?EIO=4&transport=websocket",
                                      autoping=True)
        await ws.receive_str()  # 0{"sid":...}
        await ws.send_str("40")
        while not (await ws.receive_str()).startswith("40"):
            pass
        client = cls(ws)
        client.reader = asyncio.create_task(client.read())
        return client

    def on_event(self, data: str) -> None:
        """An event the server sent (``42["name", payload]``): nothing kept by default."""

    async def read(self) -> None:
        async for msg in self.ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                break
            data: str = msg.data
            if data.startswith("42"):
                self.on_event(data)
            elif data == "2":
                await self.ws.send_str("3")
            elif data.startswith("43"):
                i = 2
                while data[i].isdigit():
                    i += 1
                future = self.acks.pop(int(data[2:i]), None)
                if future is not None and not future.done():
                    future.set_result(json.loads(data[i:])[0])

    async def call(self, event: str, payload: Any) -> Any:
        self.next_id += 1
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.acks[self.next_id] = future
        await self.ws.send_str(f"42{self.next_id}" + json.dumps([event, payload]))
        return await asyncio.wait_for(future, 60)

    async def join(self, slug: str, pseudonym: str, **extra: Any) -> Any:
        payload = {"cafe": slug, "pseudonym": pseudonym, "browser_key": secrets.token_hex(16),
                   **extra}
        for _ in range(3):  # SQLite may time out on its write lock under a burst of joins
            ack = await self.call("join", payload)
            if ack["ok"] or ack["error"]["code"] != "error":
                break
            await asyncio.sleep(0.5)
        assert ack["ok"], ack
        return ack


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_healthy(port: int) -> None:
    """Until the server on ``port`` answers ``/healthz`` (at most about 30 s on a quiet
    machine; then on, the bench's first call tells)."""
    for _ in range(300):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return
        except OSError:
            time.sleep(0.1)


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process has used: the server's cost, which the machine's
    load does not inflate the way it does wall-clock figures."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def loadavg() -> str:
    return Path("/proc/loadavg").read_text().split()[0]


def machine() -> str:
    model = next((line.split(":", 1)[1].strip() for line in
                  Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor())
    from importlib.metadata import version

    return (f"{platform.node()} {platform.system()} {platform.release()}, {model}, "
            f"{os.cpu_count()} cores; Python {platform.python_version()}, "
            f"python-socketio {version('python-socketio')}, aiohttp {version('aiohttp')}")
