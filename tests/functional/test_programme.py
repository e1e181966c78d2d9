"""The café's programme with real aiortc publishers: the camera's pictures and every stage
speaker's audio mixed, encoded once (libx264 + AAC), packaged as HLS on disk; and the
encoder's bounds (pictures dropped when behind, a failing output beside a working one, a
silent destination that holds only its push process)."""

from __future__ import annotations

import asyncio
import itertools
import socket
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import av
import numpy as np
import pytest
from aiortc import RTCPeerConnection, RTCSessionDescription
from media_support import Tone
from test_media_forwarding import MovingPicture

from signaling.media import IceSettings, MediaRouter, build_configuration, offered_host_addresses
from signaling.media.encoder import OutputSpec, ProgrammeEncoder
from signaling.media.hls import HlsLayout, hls_output
from signaling.media.programme import Programme, ProgrammeTick
from signaling.settings import BroadcastSettings

LOOPBACK = ("127.0.0.1",)
CAFE = 9


@pytest.fixture
async def router() -> AsyncIterator[MediaRouter]:
    media = MediaRouter(ice=IceSettings(host_addresses=LOOPBACK))
    yield media
    await media.close()


async def _publish(router: MediaRouter, pcs: list[RTCPeerConnection], participant: int,
                   frequency: float, *, video: bool) -> None:
    pc = RTCPeerConnection(build_configuration())
    pcs.append(pc)
    pc.addTrack(Tone(frequency))
    if video:
        pc.addTrack(MovingPicture())
    offer = await pc.createOffer()
    with offered_host_addresses(LOOPBACK):
        await pc.setLocalDescription(offer)
    assert pc.localDescription is not None
    answer = await router.publish(CAFE, participant, pc.localDescription.sdp,
                                  allow_video=video, speaker=f"p{participant}")
    await pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))


async def _until(predicate: Callable[[], bool], within: float) -> None:
    deadline = time.monotonic() + within
    while not predicate() and time.monotonic() < deadline:  # noqa: ASYNC110 (a thread's state)
        await asyncio.sleep(0.1)


def _decode(paths: list[Path]) -> tuple[list[av.VideoFrame], np.ndarray]:
    pictures: list[av.VideoFrame] = []
    samples: list[np.ndarray] = []
    for path in paths:
        with av.open(str(path)) as container:
            for frame in container.decode(video=0):
                pictures.append(frame)
        with av.open(str(path)) as container:
            for audio in container.decode(audio=0):
                samples.append(audio.to_ndarray().reshape(-1))
    return pictures, np.concatenate(samples) if samples else np.zeros(0)


def _level(signal: np.ndarray, frequency: float, rate: int = 48_000) -> float:
    spectrum = np.abs(np.fft.rfft(signal * np.hanning(len(signal))))
    freqs = np.fft.rfftfreq(len(signal), 1 / rate)
    band = (freqs > frequency - 15) & (freqs < frequency + 15)
    return float(spectrum[band].max() / (np.median(spectrum) + 1e-9))


async def test_programme_is_the_camera_and_every_speaker_mixed_in_hls(
        router: MediaRouter, pcs: list[RTCPeerConnection], tmp_path: Path) -> None:
    settings = BroadcastSettings(width=640, height=480, fps=30, segment_seconds=1.0)
    await _publish(router, pcs, 1, 440, video=True)  # the expert: camera and voice
    await _publish(router, pcs, 2, 1000, video=False)  # a parent on stage
    programme = Programme(router, CAFE, settings)
    encoder = ProgrammeEncoder(settings, f"cafe={CAFE}")
    layout = HlsLayout(tmp_path)
    hls = encoder.add_output(hls_output(layout, settings, window=4))
    encoder.start()
    programme.sinks.append(encoder.offer)
    programme.start()
    await _until(lambda: len(layout.segments()) >= 5, 30)
    playlist = layout.media.read_text()
    await programme.stop()
    await asyncio.to_thread(encoder.close)

    assert hls.status.state == "closed", hls.status
    assert "#EXTINF:1.0" in playlist and "seg-" in playlist
    assert playlist.count("#EXTINF") <= 4  # the live window
    segments = layout.segments()
    assert len(segments) >= 5
    pictures, audio = _decode(segments[1:])  # the first second may precede the media
    assert pictures and {(p.width, p.height) for p in pictures} == {(640, 480)}
    # The picture moves (the publisher's gradient scrolls), it is not the black filler.
    luma = [np.asarray(p.to_ndarray(format="gray")).astype(np.int32) for p in pictures[-10:]]
    assert max(int(x.mean()) for x in luma) > 40
    assert any(np.abs(a - b).mean() > 1 for a, b in itertools.pairwise(luma))
    assert _level(audio, 440) > 20 and _level(audio, 1000) > 20  # both voices, mixed
    assert programme.stats.pictures > 30 and programme.stats.audio_chunks > 100
    assert encoder.stats.keyframes >= 4 and encoder.stats.cpu_seconds > 0


def _tick(index: int, settings: BroadcastSettings, picture: av.VideoFrame | None
          ) -> ProgrammeTick:
    audio = np.zeros(settings.samples_per_tick, dtype=np.int16)
    return ProgrammeTick(index, picture, audio, index * settings.samples_per_tick,
                         time.monotonic())


async def test_an_encoder_behind_drops_pictures_and_keeps_the_sound(tmp_path: Path) -> None:
    settings = BroadcastSettings(width=320, height=240, fps=30)
    encoder = ProgrammeEncoder(settings, "cafe=test", queue_seconds=0.5)
    layout = HlsLayout(tmp_path)
    hls = encoder.add_output(hls_output(layout, settings))
    picture = av.VideoFrame.from_ndarray(np.full((180, 320, 3), 200, np.uint8), "rgb24")
    for index in range(90):  # 3 s offered while the encoder thread has not started
        encoder.offer(_tick(index, settings, picture))
    assert encoder.stats.pictures_dropped >= 60
    assert encoder.stats.ticks_dropped == 0  # every tick's audio is kept
    encoder.start()
    await asyncio.to_thread(encoder.close)
    assert encoder.stats.ticks == 90 and hls.status.state == "closed"
    pictures, audio = _decode(layout.segments())
    assert len(audio) >= 85 * settings.samples_per_tick
    # A 16:9 picture in a 4:3 programme: letterboxed (black bars above and below).
    gray = pictures[-1].to_ndarray(format="gray")  # the oldest pictures were dropped
    assert gray[5].mean() < 30 and gray[120].mean() > 150


async def test_a_failing_output_leaves_the_others_and_hides_its_url(tmp_path: Path) -> None:
    settings = BroadcastSettings(width=320, height=240, fps=30)
    encoder = ProgrammeEncoder(settings, "cafe=test")
    layout = HlsLayout(tmp_path)
    hls = encoder.add_output(hls_output(layout, settings))
    secret = "rtmp://127.0.0.1:9/live/SECRET-KEY"
    remote = encoder.add_output(OutputSpec("youtube", secret, "flv", retry=True,
                                           open_timeout=1.0, max_backoff=1.0))
    encoder.start()
    for index in range(60):
        encoder.offer(_tick(index, settings, None))
        await asyncio.sleep(1 / 30)
    await _until(lambda: remote.status.reconnects >= 2, 10)
    assert remote.status.state == "retrying" and remote.status.reconnects >= 2
    assert "SECRET" not in remote.status.error
    assert hls.status.state == "live" and hls.status.packets > 60
    await asyncio.to_thread(encoder.close)
    assert (hls.status.state, remote.status.state) == ("closed", "closed")
    assert len(layout.segments()) >= 2


async def test_a_silent_destination_costs_only_its_push_process(tmp_path: Path) -> None:
    """A destination that accepts TCP and never answers: pushed from the main process, PyAV's
    open would hold the GIL (and freeze this loop) for as long; from its push process, the
    loop keeps its pace, the push gives up after its open timeout and retries."""
    settings = BroadcastSettings(width=320, height=240, fps=30)
    encoder = ProgrammeEncoder(settings, "cafe=test")
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # never accepted, never answered: the kernel completes the handshake
    secret = f"rtmp://127.0.0.1:{silent.getsockname()[1]}/live/SECRET-KEY"
    remote = encoder.add_output(OutputSpec("youtube", secret, "flv", retry=True,
                                           open_timeout=2.0, max_backoff=1.0, process=True))
    encoder.start()
    gaps: list[float] = []
    last = time.monotonic()
    try:
        for index in range(150):  # 5 s of programme
            encoder.offer(_tick(index, settings, None))
            await asyncio.sleep(1 / 30)
            now = time.monotonic()
            gaps.append(now - last)
            last = now
        await _until(lambda: remote.status.reconnects >= 1, 10)
    finally:
        await asyncio.to_thread(encoder.close)
        silent.close()
    assert max(gaps) < 0.5, max(gaps)
    assert remote.status.error == "TimeoutError: no answer within 2 s", remote.status.error
    assert remote.status.state == "closed"
