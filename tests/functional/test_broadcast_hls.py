"""The café's HLS broadcast through the real app: the programme starts with the expert's
first publication, the playlists and segments are served with the cache headers a CDN
needs, the live captions become the WebVTT rendition, and nothing is served once the café
ended; parents beyond the WebRTC places are told to watch it (`webrtc_full`)."""

from __future__ import annotations

import asyncio
import secrets
import time
from pathlib import Path

import aiohttp
import pytest
from aiortc import RTCPeerConnection
from media_support import publish_tone
from signaling_fixtures import Live, invite, make_cafe

from server.broadcast import BROADCASTS, Broadcasts
from server.config import Config, load_config
from sessions.roles import Role


@pytest.fixture
def config(tmp_path: Path, sqlite_url: str) -> Config:
    """Two WebRTC places for parents per café (the third watches the broadcast)."""
    return load_config(
        data_dir=tmp_path / "var", database_url=sqlite_url, secret_key=secrets.token_hex(24),
        ice={"host_addresses": ["127.0.0.1"]}, broadcast={"webrtc_capacity": 2})


async def _get(session: aiohttp.ClientSession, url: str) -> tuple[int, dict[str, str], bytes]:
    async with session.get(url) as response:
        return response.status, dict(response.headers), await response.read()


async def _until_served(session: aiohttp.ClientSession, url: str, needle: bytes,
                        within: float = 30) -> bytes:
    deadline = time.monotonic() + within
    while True:
        status, _, body = await _get(session, url)
        if status == 200 and needle in body:
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"{url} never served {needle!r}: {status} {body[:200]!r}")
        await asyncio.sleep(0.25)


async def _ended(broadcasts: Broadcasts, cafe_id: int) -> None:
    deadline = time.monotonic() + 15
    while broadcasts.live(cafe_id) is not None:
        assert time.monotonic() < deadline, "the broadcast did not end"
        await asyncio.sleep(0.1)


async def _cue(session: aiohttp.ClientSession, base: str, within: float) -> str:
    """The first WebVTT segment of the subtitle playlist that has a cue."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        _, _, playlist = await _get(session, f"{base}/r1/subs.m3u8")
        for name in playlist.decode().split():
            if name.startswith("subs-"):
                _, headers, body = await _get(session, f"{base}/r1/{name}")
                assert headers["Content-Type"] == "text/vtt; charset=utf-8"
                if b"-->" in body:
                    return body.decode()
        await asyncio.sleep(0.25)
    raise AssertionError("no cue in the subtitle playlist")


async def test_the_broadcast_is_served_while_live_with_its_captions(
        live: Live, pcs: list[RTCPeerConnection]) -> None:
    cafe = await make_cafe(live.cafes, live=True)
    expert = await live.peer()
    await expert.join(cafe, "Dr Martin", invite=await invite(live.cafes, cafe, Role.EXPERT))
    base = f"{live.url.rstrip('/')}/cafes/{cafe.slug}/live"
    async with aiohttp.ClientSession() as session:
        status, headers, _ = await _get(session, f"{base}/index.m3u8")
        assert status == 404 and headers["Cache-Control"] == "no-store"  # nothing published

        assert (await publish_tone(expert, pcs))["ok"] is True
        master = (await _until_served(session, f"{base}/index.m3u8", b"#EXTM3U")).decode()
        assert "TYPE=SUBTITLES" in master and 'URI="r1/subs.m3u8"' in master
        assert "RESOLUTION=640x480" in master and "\nr1/live.m3u8" in master

        playlist = await _until_served(session, f"{base}/r1/live.m3u8", b"seg-00002.ts")
        status, headers, _ = await _get(session, f"{base}/r1/live.m3u8")
        assert headers["Content-Type"] == "application/vnd.apple.mpegurl"
        assert headers["Cache-Control"] == "public, max-age=1"
        assert b"#EXT-X-TARGETDURATION:1" in playlist
        status, headers, segment = await _get(session, f"{base}/r1/seg-00001.ts")
        assert status == 200 and headers["Content-Type"] == "video/mp2t"
        assert headers["Cache-Control"] == "public, max-age=31536000, immutable"
        assert segment[:1] == b"G"  # an MPEG-TS packet's sync byte

        broadcasts = live.app[BROADCASTS]
        broadcasts.caption(cafe.id, "Les écrans <b>avant</b> trois ans", spoken=2.5)
        text = await _cue(session, base, within=10)
        assert text.startswith("WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:")
        assert "Les écrans &lt;b&gt;avant&lt;/b&gt; trois ans" in text

        for bad in ("r1/../../secret_key", "r1/seg-1.ts", "x1/live.m3u8", "r1/runs.json"):
            status, _, _ = await _get(session, f"{base}/{bad}")
            assert status == 404, bad

        assert (await expert.call("cafe.end", {}))["ok"] is True
        await _ended(broadcasts, cafe.id)
        await asyncio.sleep(1.1)  # the database lookup of another process is kept 1 s
        for name in ("index.m3u8", "r1/live.m3u8", "r1/seg-00001.ts"):
            status, _, _ = await _get(session, f"{base}/{name}")
            assert status == 404, name  # the unredacted programme is not served after
    folder = broadcasts.data_dir
    media = (folder / "programme" / str(cafe.id) / "r1" / "live.m3u8").read_text()
    assert media.rstrip().endswith("#EXT-X-ENDLIST")


async def test_parents_beyond_the_webrtc_places_are_sent_to_the_broadcast(
        live: Live, pcs: list[RTCPeerConnection]) -> None:
    cafe = await make_cafe(live.cafes, live=True)
    moderator = await live.peer()
    await moderator.join(cafe, "Modo", invite=await invite(live.cafes, cafe, Role.MODERATOR))
    parents = [await live.peer() for _ in range(3)]
    for index, parent in enumerate(parents):
        await parent.join(cafe, f"Parent {index}")
    assert (await parents[0].call("media.subscribe", {}))["ok"] is True
    assert (await parents[1].call("media.subscribe", {}))["ok"] is True
    full = await parents[2].call("media.subscribe", {})
    assert full["ok"] is False and full["error"]["code"] == "webrtc_full"
    assert "diffusion" in full["error"]["message"]  # French first
    assert (await moderator.call("media.subscribe", {}))["ok"] is True  # staff: always
    assert (await parents[1].call("media.subscribe", {}))["ok"] is True  # again: its place

    # Brought on stage, the third parent talks over WebRTC.
    await parents[2].call("stage.raise_hand")
    await moderator.call("stage.invite", {"participant_id": parents[2].me["id"]})
    await parents[2].next("stage.invitation")
    assert (await parents[2].call("stage.accept", {}))["ok"] is True
    await parents[2].next("stage.invited")
    assert (await parents[2].call("media.subscribe", {}))["ok"] is True
