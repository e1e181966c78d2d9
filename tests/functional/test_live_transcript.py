"""The whole transcript path in one process, with every real part: an expert's aiortc peer
publishes recorded French speech through socket.io and the media router; a parent's socket
gets live captions; the café ends; the final transcript is made by the real Whisper model;
once published, /api/search finds the words at the moment they were spoken."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import time
import wave
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiortc import RTCPeerConnection
from aiortc.contrib.media import MediaPlayer
from media_support import negotiate_publish
from signaling_fixtures import Live, invite, make_cafe

from server.app import create_app
from server.config import Config
from sessions.clock import SystemClock
from sessions.roles import Role
from signaling.media import build_configuration
from transcripts.keys import TRANSCRIPTS

pytestmark = pytest.mark.whisper
FIRST = "Bonjour à tous et merci d'être là ce soir."
SECOND = "Les jeux vidéo en ligne permettent de discuter avec des inconnus."


def speech(tmp_path: Path) -> tuple[Path, float]:
    """A WAV of two French sentences with pauses; returns it and when the second starts."""
    if shutil.which("espeak-ng") is None or shutil.which("sox") is None:
        pytest.fail("espeak-ng and sox are required (make test installs them)")
    parts = []
    for i, text in enumerate((FIRST, SECOND)):
        raw = tmp_path / f"s{i}.wav"
        subprocess.run(["espeak-ng", "-v", "fr", "-s", "150", "-w", str(raw), text], check=True)
        padded = tmp_path / f"p{i}.wav"
        subprocess.run(["sox", str(raw), "-r", "48000", str(padded), "pad", "1.5", "1.5"],
                       check=True)
        parts.append(padded)
    out = tmp_path / "speech.wav"
    subprocess.run(["sox", *map(str, parts), str(out)], check=True)
    with wave.open(str(parts[0])) as first:
        second_starts = first.getnframes() / first.getframerate() + 1.5
    return out, second_starts


@pytest.fixture
def captions_config(config: Config) -> Config:
    whisper = config.whisper.model_copy(update={
        "model": os.environ["CAUSERIE_WHISPER__MODEL"], "live_captions": True})
    return config.model_copy(update={"whisper": whisper})


@pytest.fixture
def app(captions_config: Config) -> web.Application:
    """The shared `live` fixture serves this app: live captions on, the real clock."""
    return create_app(captions_config, clock=SystemClock())


async def test_captions_then_searchable_transcript(live: Live, tmp_path: Path) -> None:
    wav, second_starts = speech(tmp_path)
    cafe = await make_cafe(live.cafes, title="Jeux vidéo et réseaux")
    expert, parent = await live.peer(), await live.peer()
    await expert.join(cafe, "Dr Martin", invite=await invite(live.cafes, cafe, Role.EXPERT))
    assert (await expert.call("cafe.open", {}))["ok"] is True
    opened = time.monotonic()
    await parent.join(cafe, "Marie")

    pc = RTCPeerConnection(build_configuration())
    player = MediaPlayer(str(wav))
    assert player.audio is not None
    pc.addTransceiver(player.audio, direction="sendonly")
    try:
        ack = await negotiate_publish(expert, pc)
        assert ack["ok"] is True, ack
        publishing = time.monotonic() - opened

        # Live captions reach the parent while the expert speaks.
        caption = await parent.next("captions", wait=40)
        assert caption["speaker"] == "Dr Martin" and caption["text"].strip()
        deadline = time.monotonic() + 40
        heard = ""
        # Robotic French on a busy machine: any sturdy word of the second sentence will do.
        sturdy = ("discut", "jeux", "vidéo", "ligne", "connu")
        while not any(w in heard for w in sturdy) and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            heard = " ".join(c["text"] for c in parent.events["captions"]).lower()
        assert any(w in heard for w in sturdy), heard
    finally:
        await pc.close()
        player.audio.stop()

    assert (await expert.call("cafe.end", {}))["ok"] is True
    repo = live.app[TRANSCRIPTS].repo
    deadline = time.monotonic() + 90
    while await repo.cafe_progress(cafe.id) < 1.0:
        assert time.monotonic() < deadline, await repo.jobs(cafe.id)
        await asyncio.sleep(0.5)

    client_url = live.url.rstrip("/")
    async with aiohttp.ClientSession() as http:
        hidden = await (await http.get(f"{client_url}/api/search?q=jeux")).json()
        assert hidden["total"] == 0  # not published yet
        await live.cafes.set_transcript_published(cafe.slug, True)
        text = await (await http.get(f"{client_url}/cafes/{cafe.slug}/transcript.txt")).text()
        # French espeak is robotic: any of the second sentence's sturdy words will do.
        hits = []
        for word in ("discuter", "jeux", "inconnus", "ligne"):
            found = await (await http.get(f"{client_url}/api/search?q={word}")).json()
            hits += found["hits"]
    assert hits, text
    hit = hits[0]
    assert hit["cafe"]["slug"] == cafe.slug and hit["speaker"] == "Dr Martin"
    spoken_at = publishing + second_starts
    # The hit's moment is its first matching word's Whisper timing: where it was spoken.
    assert any(abs(h["moment"] - spoken_at) < 2.0 for h in hits), (hits, spoken_at, text)
