"""The café's video replay: the programme's segments, kept, are remuxed into one MP4 after the
café; the published transcript page plays it (instead of the audio replay) from the café
second its time 0 was; a redaction makes it stale (the page falls back to the audio until
it is rebuilt with the stretch silenced)."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

import aiohttp
import av
import numpy as np
import sqlalchemy as sa
from aiortc import RTCPeerConnection, RTCSessionDescription
from media_support import Tone
from signaling_fixtures import Live, Peer, invite, make_cafe
from test_media_forwarding import MovingPicture

from server.broadcast import BROADCASTS, Broadcasts
from server.keys import DATABASE
from sessions.roles import Role
from sessions.storage.tables import cafes, redactions
from signaling.media import build_configuration, offered_host_addresses
from transcripts.video_replay import read_video_replay


async def _publish_camera(peer: Peer, pcs: list[RTCPeerConnection]) -> None:
    pc = RTCPeerConnection(build_configuration())
    pcs.append(pc)
    pc.addTrack(Tone(440))
    pc.addTrack(MovingPicture())
    with offered_host_addresses(("127.0.0.1",)):
        await pc.setLocalDescription(await pc.createOffer())
    assert pc.localDescription is not None
    ack = await peer.call("media.publish", {"sdp": pc.localDescription.sdp, "type": "offer"})
    assert ack["ok"] is True, ack
    await pc.setRemoteDescription(RTCSessionDescription(ack["sdp"], "answer"))


async def _until(predicate: object, within: float, what: str) -> None:
    assert callable(predicate)
    deadline = time.monotonic() + within
    while not predicate():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.2)


def _rms(path: Path, start: float, length: float) -> float:
    with av.open(str(path)) as container:
        samples = np.concatenate([f.to_ndarray().reshape(-1) for f in container.decode(audio=0)])
    window = samples[int(start * 48_000):int((start + length) * 48_000)]
    return float(np.sqrt(np.mean(window.astype(np.float64) ** 2)))


async def test_the_video_replay_plays_on_the_transcript_page_and_follows_redactions(
        live: Live, pcs: list[RTCPeerConnection]) -> None:
    cafe = await make_cafe(live.cafes, live=True)
    expert = await live.peer()
    await expert.join(cafe, "Dr Martin", invite=await invite(live.cafes, cafe, Role.EXPERT))
    await _publish_camera(expert, pcs)
    broadcasts: Broadcasts = live.app[BROADCASTS]
    await _until(lambda: (b := broadcasts.live(cafe.id)) is not None
                 and len(b.layout.segments()) >= 5, 40, "five segments")
    assert (await expert.call("cafe.end", {}))["ok"] is True
    folder = broadcasts.replays.folder(cafe.id)
    await _until(lambda: read_video_replay(folder) is not None, 40, "the replay")
    replay = read_video_replay(folder)
    assert replay is not None and replay.duration > 4 and replay.silence == ()

    database = live.app[DATABASE]
    async with database.transaction() as conn:
        await conn.execute(sa.update(cafes).where(cafes.c.id == cafe.id).values(
            transcript_published=True))
    base = live.url.rstrip("/")
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{base}/cafes/{cafe.slug}/transcript") as response:
            page = await response.text()
        match = re.search(r'<video id="player"[^>]*data-offset="([0-9.]+)"', page)
        assert match, page[:2000]
        assert abs(float(match.group(1)) - replay.cafe_seconds) < 0.01
        assert f'src="/cafes/{cafe.slug}/replay.mp4"' in page
        headers = {"Range": "bytes=0-99"}
        async with session.get(f"{base}/cafes/{cafe.slug}/replay.mp4",
                               headers=headers) as response:
            assert response.status == 206 and response.headers["Content-Type"] == "video/mp4"
            assert len(await response.read()) == 100
        with av.open(str(replay.path)) as container:
            video = container.streams.video[0]
            assert (video.codec_context.width, video.codec_context.height) == (640, 480)
        assert _rms(replay.path, 2.0, 0.5) > 0.01  # the expert’s tone

        # A redaction of café seconds [t0 + 2, t0 + 3): stale until rebuilt with it silenced.
        t0 = replay.cafe_seconds
        now = cafe.opened_at or cafe.starts_at
        async with database.transaction() as conn:
            await conn.execute(redactions.insert().values(
                cafe_id=cafe.id, start_seconds=t0 + 2.0, end_seconds=t0 + 3.0,
                actor="organiser", applied=True, created_at=now))
        async with session.get(f"{base}/cafes/{cafe.slug}/transcript") as response:
            page = await response.text()
        assert '<video id="player"' not in page  # the audio replay (or none) meanwhile
        async with session.get(f"{base}/cafes/{cafe.slug}/replay.mp4") as response:
            assert response.status == 404
        await _until(lambda: (r := read_video_replay(folder)) is not None and r.silence,
                     40, "the rebuilt replay")
        rebuilt = read_video_replay(folder)
        assert rebuilt is not None
        assert _rms(rebuilt.path, 2.1, 0.8) < 0.001 and _rms(rebuilt.path, 3.3, 0.5) > 0.01
        async with session.get(f"{base}/cafes/{cafe.slug}/transcript") as response:
            assert '<video id="player"' in await response.text()
