"""Simulcast against a real RTMP server: nginx with its RTMP module on loopback records what
it receives. A café goes live with a real aiortc expert (a moving picture, and espeak-ng
speech as the voice); the café's programme is pushed to the destination the organiser set.
nginx is killed mid-push: the café's events keep flowing, the admin page says it reconnects,
and the push comes back when nginx does. The FLVs nginx recorded are read back: H.264 and
AAC, their duration, and the voice in them is the expert's (the packaged Whisper model
hears the expert's sentence in it). The stream key is in no log."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any

import pytest
from aiortc import RTCPeerConnection
from nginx_support import RTMP_MODULE, Nginx, free_port, nginx_binary, rtmp_ingest
from revocation_support import organiser
from signaling_fixtures import Live, invite, make_cafe
from simulcast_support import (
    EXPECTED_WORDS,
    SPEECH,
    admin_status,
    no_status,
    publish_expert,
    read_flv,
    until,
    whisper_model,
    words,
)
from transcripts_support import speak

from server.simulcast import DESTINATIONS, STATUS_BOARD
from sessions.roles import Role

KEY = "cafe-stream-key-7Q2x"
pytestmark = pytest.mark.whisper
__all__ = ["whisper_model"]  # the fixture, imported for the test below


@pytest.fixture
def rtmp_server(tmp_path: Path) -> tuple[Nginx, int, Path]:
    nginx_binary()
    if not RTMP_MODULE.exists():
        pytest.fail(f"{RTMP_MODULE} missing (scripts/ensure-system.sh installs it)")
    port = free_port()
    recorded = tmp_path / "recorded"
    recorded.mkdir()
    return (Nginx(tmp_path / "nginx", rtmp=rtmp_ingest(port, recorded), ports=(port,)),
            port, recorded)


async def _status_line(live: Live, email: str, slug: str) -> str:
    (line,) = (await admin_status(live.url.rstrip("/"), email, slug, (KEY,))).values()
    return line


async def test_programme_pushed_to_nginx_rtmp_survives_its_loss(
        live: Live, pcs: list[RTCPeerConnection], tmp_path: Path,
        rtmp_server: tuple[Nginx, int, Path], whisper_model: Any,
        caplog: pytest.LogCaptureFixture,
        capfd: pytest.CaptureFixture[str]) -> None:
    caplog.set_level(logging.DEBUG)
    nginx, port, recorded = rtmp_server
    speech = speak(SPEECH, "en+m3", tmp_path / "speech.wav", lead_silence=0.5)
    cafe = await make_cafe(live.cafes, live=True)
    email = await organiser(live.cafes)
    destination = await live.app[DESTINATIONS].add(cafe.id, "nginx",
                                                   f"rtmp://127.0.0.1:{port}/live", KEY)
    nginx.start()
    try:
        expert, parent = await live.peer(), await live.peer()
        await expert.join(cafe, "Dr Martin", invite=await invite(live.cafes, cafe, Role.EXPERT))
        await parent.join(cafe, "Marie")
        await publish_expert(expert, speech, pcs)

        board = live.app[STATUS_BOARD]

        async def state(wanted: str) -> Any:
            status = (await board.read(cafe.id)).get(destination.id)
            return status if status is not None and status.state == wanted else None

        await until(lambda: state("live"), 30, "the push connected")
        connected_at = time.monotonic()
        assert await _status_line(live, email, cafe.slug) == "Connecté."
        await asyncio.sleep(8)  # 8 s of programme into nginx

        nginx.stop()  # the destination disappears mid-push
        pushed = time.monotonic() - connected_at
        retrying = await until(lambda: state("retrying"), 20, "the push noticed")
        line = await _status_line(live, email, cafe.slug)
        assert line.startswith("Reconnexion dans "), line
        # the café goes on: a chat message still reaches everyone
        assert (await parent.call("chat.send", {"text": "On vous entend bien"}))["ok"]
        assert (await expert.next("chat.message"))["text"] == "On vous entend bien"
        assert retrying.reconnects >= 1

        nginx.start()  # back: the push reconnects by itself
        back = await until(lambda: state("live"), 40, "the push came back")
        assert back.reconnects >= 1
        await asyncio.sleep(4)
        assert (await expert.call("cafe.end", {}))["ok"] is True
        await until(lambda: no_status(board, cafe.id), 20, "the push stopped at the end")
    finally:
        nginx.stop()

    files = sorted(recorded.glob("*.flv"), key=lambda p: p.stat().st_mtime)
    assert len(files) >= 2, files  # before the loss, and after
    duration, codecs = read_flv(files[0])
    assert codecs == {"h264", "aac"}, codecs
    # what nginx got before its loss: the time the push was connected, give or take the
    # 2 s refresh of the status (the push may have connected up to 2 s before the status
    # said so, and the poll sees it later still on a busy machine), the push process's
    # start (what it got before saying it was live) and a keyframe interval
    assert pushed - 4.0 <= duration <= pushed + 3.0, (duration, pushed)
    later, codecs_later = read_flv(files[-1])
    assert codecs_later == {"h264", "aac"} and later >= 2.0, later
    # The voice is the expert's: Whisper hears the expert's sentence in what nginx got.
    heard: set[str] = set()
    for path in files:  # before the loss and after it
        heard |= await asyncio.to_thread(words, whisper_model, path)
    assert len(heard & EXPECTED_WORDS) >= 4, heard

    out, err = capfd.readouterr()
    assert KEY not in caplog.text and KEY not in out and KEY not in err

