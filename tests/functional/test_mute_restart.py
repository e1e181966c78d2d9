"""A moderator's mute outlives the server process: after a kill -9 and a restart on the same
database, the muted speaker publishing again is neither forwarded nor recorded (the stored
stage state is applied at publish), until a moderator unmutes them."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestServer
from aiortc import RTCPeerConnection
from media_support import publish_tone
from signaling_fixtures import Live, Peer, browser_key, connect, invite, make_cafe

from server.app import create_app
from server.config import Config
from server.keys import CAFES
from sessions.roles import Role
from signaling.keys import MEDIA


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _serve(config: Config, port: int, log: Path) -> subprocess.Popen[bytes]:
    """`causerie serve` on the test's database, in a process of its own (to kill -9)."""
    environ = {**os.environ, "CAUSERIE_DATA_DIR": str(config.data_dir),
               "CAUSERIE_DATABASE_URL": config.database_url,
               "CAUSERIE_SECRET_KEY": config.secret_key, "CAUSERIE_LOG_LEVEL": "WARNING",
               "CAUSERIE_ICE__HOST_ADDRESSES": json.dumps(["127.0.0.1"]),
               "CAUSERIE_WHISPER__LIVE_CAPTIONS": "false"}
    with log.open("wb") as err:
        server = subprocess.Popen([sys.executable, "-m", "server.cli", "serve", "--port",
                                   str(port)], env=environ, stdout=subprocess.DEVNULL,
                                  stderr=err)
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                return server
        except OSError:
            if server.poll() is not None:
                raise AssertionError(log.read_text()) from None
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.3)


async def _until(check: Callable[[], bool], wait: float, what: str) -> None:
    deadline = time.monotonic() + wait
    while not check():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.05)


async def test_a_mute_survives_kill_9_and_restart(config: Config, tmp_path: Path,
                                                  pcs: list[RTCPeerConnection]) -> None:
    keys = {"modo": browser_key(), "marie": browser_key()}
    # The second process, in this one (to look into its media router); started first only
    # to make the café on the test's database.
    server = TestServer(create_app(config))
    await server.start_server()
    second = Live(server, server.app)
    try:
        cafe = await make_cafe(second.app[CAFES], live=True)
        token = await invite(second.app[CAFES], cafe, Role.MODERATOR)
        port = _free_port()
        first = _serve(config, port, tmp_path / "first.log")
        peers: list[Peer] = []
        try:
            moderator, marie = (await connect(f"http://127.0.0.1:{port}"),
                                await connect(f"http://127.0.0.1:{port}"))
            peers += [moderator, marie]
            assert (await moderator.join(cafe, "Modo", invite=token,
                                         browser_key=keys["modo"]))["ok"]
            assert (await marie.join(cafe, "Marie", browser_key=keys["marie"]))["ok"]
            assert (await marie.call("stage.raise_hand", {}))["ok"]
            assert (await moderator.call("stage.invite",
                                         {"participant_id": marie.me["id"]}))["ok"]
            assert (await marie.call("stage.accept", {}))["ok"]
            assert (await moderator.call("stage.mute", {"participant_id": marie.me["id"],
                                                        "muted": True}))["ok"]
        finally:
            first.send_signal(signal.SIGKILL)  # no clean shutdown: memory is simply gone
            first.wait(timeout=10)
            for peer in peers:
                await peer.close()

        # The same browsers come back to a new process on the same database.
        moderator, marie = await second.peer(), await second.peer()
        await moderator.join(cafe, "Modo", browser_key=keys["modo"])
        view: dict[str, Any] = await marie.join(cafe, "Marie", browser_key=keys["marie"])
        assert view["stage"]["on_stage"] and view["stage"]["muted"]
        router = second.app[MEDIA]
        tap = router.open_audio_tap(cafe.id)
        recorded: list[int] = []

        async def record() -> None:
            async for chunk in tap:
                recorded.append(chunk.participant_id)

        reader = asyncio.create_task(record())
        try:
            assert (await publish_tone(marie, pcs))["ok"] is True
            await _until(lambda: router.stats.audio_frames_received >= 50, 15,
                         "no audio received from the speaker")
            assert router.stats.audio_frames_muted == router.stats.audio_frames_received
            assert router.stats.tap_chunks == 0 and recorded == []

            assert (await moderator.call("stage.mute", {"participant_id": marie.me["id"],
                                                        "muted": False}))["ok"]
            await _until(lambda: len(recorded) >= 25, 10, "no audio after the unmute")
            assert set(recorded) == {marie.me["id"]}
        finally:
            tap.close()
            await reader
    finally:
        await second.close()
        await second.server.close()
