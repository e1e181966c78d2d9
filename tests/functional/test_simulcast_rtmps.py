"""Simulcast to rtmps:// (what YouTube and Facebook Live require), against a real server: TLS
in front of nginx-rtmp on loopback (nginx's `stream` module ends TLS and passes the bytes to
the RTMP port), with a certificate authority made by the test and given to the app as
`simulcast.ca_file`, the way an operator would give theirs.

The café goes live with an aiortc expert (a moving picture, espeak speech); it has two rtmps
destinations on the same ingest: one whose certificate that authority signed, one with a
self-signed certificate. The first is pushed and what nginx recorded is read back (H.264 and
AAC, the duration it was connected, the programme's own sound packets); the second never
gets a byte (nothing recorded under its key) and the admin page says the certificate was
refused, reconnecting. The stream keys are in no log.

FFmpeg's own rtmps would push to both (it does not verify certificates, and PyAV cannot ask
it to): the second destination's key would reach whoever answered.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from pathlib import Path
from typing import Any

import av
import pytest
from aiortc import RTCPeerConnection
from revocation_support import organiser
from signaling_fixtures import Live, invite, make_cafe
from simulcast_support import (
    SPEECH,
    RtmpsServer,
    admin_status,
    make_certificates,
    no_status,
    publish_expert,
    read_flv,
    rtmps_server,
    until,
)
from transcripts_support import speak

from server.config import Config, load_config
from server.simulcast import DESTINATIONS, STATUS_BOARD
from sessions.roles import Role

KEY = "yt-like-key-9fK2-rtmps"
ROGUE_KEY = "fb-like-key-4Zq8-rogue"


@pytest.fixture
def server(tmp_path: Path) -> RtmpsServer:
    return rtmps_server(tmp_path / "ingest", make_certificates(tmp_path / "tls"))


@pytest.fixture
def config(tmp_path: Path, sqlite_url: str, server: RtmpsServer) -> Config:
    """The app trusts the test's certificate authority for rtmps destinations."""
    return load_config(
        data_dir=tmp_path / "var", database_url=sqlite_url, secret_key=secrets.token_hex(24),
        ice={"host_addresses": ["127.0.0.1"]},
        # a loaded test machine starts push processes slowly: what is tested is TLS
        simulcast={"ca_file": str(server.certificates.ca), "refresh_seconds": 0.5,
                   "open_timeout_seconds": 30})


def _audio_packets(path: Path) -> list[bytes]:
    """The AAC frames of a file (an MPEG-TS segment's without their ADTS header)."""
    frames = []
    with av.open(str(path)) as container:
        for packet in container.demux(audio=0):
            data = bytes(packet)
            if len(data) > 9 and data[0] == 0xFF and data[1] & 0xF0 == 0xF0:
                data = data[7 if data[1] & 1 else 9:]
            if len(data) > 16:  # not an empty frame (silence repeats)
                frames.append(data)
    return frames


async def test_programme_pushed_over_verified_tls_and_not_to_an_unverified_server(
        live: Live, pcs: list[RTCPeerConnection], tmp_path: Path, server: RtmpsServer,
        caplog: pytest.LogCaptureFixture,
        capfd: pytest.CaptureFixture[str]) -> None:
    caplog.set_level(logging.DEBUG)
    speech = speak(SPEECH, "en+m3", tmp_path / "speech.wav", lead_silence=0.5)
    cafe = await make_cafe(live.cafes, live=True)
    email = await organiser(live.cafes)
    destinations = live.app[DESTINATIONS]
    good = await destinations.add(cafe.id, "YouTube", f"rtmps://127.0.0.1:{server.tls}/live",
                                  KEY)
    rogue = await destinations.add(cafe.id, "Facebook",
                                   f"rtmps://127.0.0.1:{server.rogue}/live", ROGUE_KEY)
    server.nginx.start()
    try:
        expert = await live.peer()
        await expert.join(cafe, "Dr Martin", invite=await invite(live.cafes, cafe, Role.EXPERT))
        await publish_expert(expert, speech, pcs)
        board = live.app[STATUS_BOARD]

        async def status(destination_id: int, wanted: str) -> Any:
            found = (await board.read(cafe.id)).get(destination_id)
            return found if found is not None and found.state == wanted else None

        async def refused() -> Any:
            found = await status(rogue.id, "retrying")
            return found if found is not None and found.certificate_refused else None

        await until(lambda: status(good.id, "live"), 45, "the rtmps push connected")
        connected_at = time.monotonic()
        refusal = await until(refused, 30, "the unverified server refused")
        assert "self-signed certificate" in refusal.error, refusal

        lines = await admin_status(live.url.rstrip("/"), email, cafe.slug, (KEY, ROGUE_KEY))
        assert lines[str(good.id)] == "Connecté.", lines
        assert lines[str(rogue.id)].startswith("Reconnexion dans "), lines
        assert "Certificat du serveur refusé\u00a0: " in lines[str(rogue.id)], lines

        await asyncio.sleep(14)  # 14 s of programme over TLS: the sentence, looped, twice
        still = await status(rogue.id, "retrying")
        assert still is not None and still.reconnects >= 2, still  # retried, with back-off
        assert (await expert.call("cafe.end", {}))["ok"] is True
        pushed = time.monotonic() - connected_at
        await until(lambda: no_status(board, cafe.id), 20, "the push stopped at the end")
    finally:
        server.nginx.stop()

    recorded = sorted(server.recorded.glob("*.flv"))
    assert [p.name for p in recorded if p.name.startswith(ROGUE_KEY)] == []
    files = [p for p in recorded if p.name.startswith(KEY)]
    assert len(files) == 1, recorded
    duration, codecs = read_flv(files[0])
    assert codecs == {"h264", "aac"}, codecs
    # the time it was connected, give or take the status refresh (0.5 s), the push
    # process's start (what it got before saying it was live) and a keyframe interval
    assert pushed - 3.0 <= duration <= pushed + 3.0, (duration, pushed)
    # The sound is the programme's, packet for packet (the push remuxes it): the AAC
    # packets nginx got are the ones the café's own HLS segments keep. (That the
    # programme's sound is the expert's voice, Whisper checks in test_simulcast_rtmp.py:
    # on a loaded machine the aiortc expert's speech reaches the programme garbled, its
    # HLS replay included, whatever the push does.)
    pushed_audio = _audio_packets(files[0])
    kept: set[bytes] = set()
    for segment in (tmp_path / "var" / "programme" / str(cafe.id)).glob("r*/seg-*.ts"):
        kept |= set(_audio_packets(segment))
    assert len(pushed_audio) > 40 * 10, len(pushed_audio)  # 10 s of 21 ms packets
    shared = sum(1 for packet in pushed_audio if packet in kept)
    assert shared >= 0.95 * len(pushed_audio), (shared, len(pushed_audio))

    out, err = capfd.readouterr()
    for key in (KEY, ROGUE_KEY):
        assert key not in caplog.text and key not in out and key not in err
