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
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import av
import pytest
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.contrib.media import MediaPlayer
from nginx_support import RTMP_MODULE, Nginx, free_port, nginx_binary
from revocation_support import PASSWORD, organiser
from signaling_fixtures import Live, invite, make_cafe
from test_media_forwarding import MovingPicture
from transcripts_support import speak

from server.simulcast import DESTINATIONS, STATUS_BOARD
from sessions.roles import Role
from signaling.media import build_configuration, offered_host_addresses

KEY = "cafe-stream-key-7Q2x"
pytestmark = pytest.mark.whisper

SPEECH = ("Parents should talk with their children about screens, video games and social "
          "networks, every evening, before bed.")


@pytest.fixture
def rtmp_server(tmp_path: Path) -> tuple[Nginx, int, Path]:
    nginx_binary()
    if not RTMP_MODULE.exists():
        pytest.fail(f"{RTMP_MODULE} missing (scripts/ensure-system.sh installs it)")
    port = free_port()
    recorded = tmp_path / "recorded"
    recorded.mkdir()
    rtmp = (f"    server {{\n        listen 127.0.0.1:{port};\n        chunk_size 4096;\n"
            f"        application live {{\n            live on;\n            record all;\n"
            f"            record_path {recorded};\n            record_unique on;\n"
            f"        }}\n    }}")
    return Nginx(tmp_path / "nginx", rtmp=rtmp, ports=(port,)), port, recorded


async def _until(predicate: Callable[[], Any], within: float, what: str) -> Any:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        found = await predicate()
        if found:
            return found
        await asyncio.sleep(0.2)
    raise AssertionError(f"not within {within} s: {what}")


async def _admin_status(base: str, email: str, slug: str) -> str:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        async with session.get(f"{base}/login") as response:
            token = re.search(r'name="csrf_token" value="([^"]+)"', await response.text())
        assert token is not None
        async with session.post(f"{base}/login", allow_redirects=False, data={
                "email": email, "password": PASSWORD, "csrf_token": token.group(1),
                "next": "/admin"}) as response:
            assert response.status == 303
        async with session.get(f"{base}/admin/cafes/{slug}") as response:
            page = await response.text()
    found = re.search(r'<span class="status" role="status">([^<]*)</span>', page)
    assert found is not None and KEY not in page
    return found.group(1)


@pytest.fixture(scope="session")
def whisper_model(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The packaged Whisper base model (the cache the other Whisper tests share)."""
    from faster_whisper import WhisperModel

    from transcripts.model import resolve_model

    cache = tmp_path_factory.getbasetemp().parent / "whisper-base-cache"
    return WhisperModel(resolve_model("", cache), device="cpu", compute_type="int8",
                        cpu_threads=2)


def _words(model: Any, path: Path) -> set[str]:
    segments, _ = model.transcribe(str(path), language="en", beam_size=5,
                                   condition_on_previous_text=False)
    return set(re.findall(r"[a-z]+", " ".join(s.text for s in segments).lower()))


def _read_flv(path: Path) -> tuple[float, set[str]]:
    """The video's duration (first to last picture) and the codecs of an FLV."""
    with av.open(str(path)) as container:
        codecs = {s.codec_context.name for s in container.streams}
    with av.open(str(path)) as container:
        pts = [p.pts * p.time_base for p in container.demux(video=0)
               if p.pts is not None and p.time_base is not None]
    duration = float(max(pts) - min(pts)) if pts else 0.0
    return duration, codecs


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
        player = MediaPlayer(str(speech), loop=True)
        pc = RTCPeerConnection(build_configuration())
        pcs.append(pc)
        assert player.audio is not None
        pc.addTrack(player.audio)
        pc.addTrack(MovingPicture())
        with offered_host_addresses(("127.0.0.1",)):
            await pc.setLocalDescription(await pc.createOffer())
        assert pc.localDescription is not None
        ack = await expert.call("media.publish", {"sdp": pc.localDescription.sdp,
                                                  "type": "offer"})
        assert ack["ok"] is True, ack
        await pc.setRemoteDescription(RTCSessionDescription(ack["sdp"], "answer"))

        board = live.app[STATUS_BOARD]

        async def state(wanted: str) -> Any:
            status = (await board.read(cafe.id)).get(destination.id)
            return status if status is not None and status.state == wanted else None

        await _until(lambda: state("live"), 30, "the push connected")
        connected_at = time.monotonic()
        assert await _admin_status(live.url.rstrip("/"), email, cafe.slug) == "Connecté."
        await asyncio.sleep(8)  # 8 s of programme into nginx

        nginx.stop()  # the destination disappears mid-push
        pushed = time.monotonic() - connected_at
        retrying = await _until(lambda: state("retrying"), 20, "the push noticed")
        line = await _admin_status(live.url.rstrip("/"), email, cafe.slug)
        assert line.startswith("Reconnexion dans "), line
        # the café goes on: a chat message still reaches everyone
        assert (await parent.call("chat.send", {"text": "On vous entend bien"}))["ok"]
        assert (await expert.next("chat.message"))["text"] == "On vous entend bien"
        assert retrying.reconnects >= 1

        nginx.start()  # back: the push reconnects by itself
        back = await _until(lambda: state("live"), 40, "the push came back")
        assert back.reconnects >= 1
        await asyncio.sleep(4)
        assert (await expert.call("cafe.end", {}))["ok"] is True
        await _until(lambda: _no_status(board, cafe.id), 20, "the push stopped at the end")
    finally:
        nginx.stop()

    files = sorted(recorded.glob("*.flv"), key=lambda p: p.stat().st_mtime)
    assert len(files) >= 2, files  # before the loss, and after
    duration, codecs = _read_flv(files[0])
    assert codecs == {"h264", "aac"}, codecs
    # what nginx got before its loss: the time the push was connected, give or take the
    # 2 s refresh of the status (the push may have connected up to 2 s before the status
    # said so, and the poll sees it later still on a busy machine) and a keyframe interval
    assert pushed - 4.0 <= duration <= pushed + 2.5, (duration, pushed)
    later, codecs_later = _read_flv(files[-1])
    assert codecs_later == {"h264", "aac"} and later >= 2.0, later
    # The voice is the expert's: Whisper hears the expert's sentence in what nginx got.
    heard: set[str] = set()
    for path in files:  # before the loss and after it
        heard |= await asyncio.to_thread(_words, whisper_model, path)
    expected = {"parents", "talk", "children", "screens", "video", "games", "social",
                "networks", "evening", "bed"}
    assert len(heard & expected) >= 4, heard

    out, err = capfd.readouterr()
    assert KEY not in caplog.text and KEY not in out and KEY not in err


async def _no_status(board: Any, cafe_id: int) -> bool:
    return not await board.read(cafe_id)
