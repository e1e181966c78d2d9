"""The media plane with real aiortc peers in one process, over 127.0.0.1.

A publisher sends a synthetic moving picture and a tone; subscribers are aiortc peers that
decode what the server forwards.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import numpy as np
import pytest
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import (
    MediaStreamError,
    MediaStreamTrack,
    VideoStreamTrack,
)
from av import AudioFrame, VideoFrame
from media_support import Tone

from sessions.errors import InvalidInput, PermissionDenied
from signaling.media import (
    AudioChunk,
    IceSettings,
    InvalidSdp,
    MediaRouter,
    NoSuchPeer,
    SdpTooLarge,
    SlotsFull,
    TooManyTracks,
    VideoNotAllowed,
    build_configuration,
    offered_host_addresses,
    pumps,
)
from transcripts.feed import Pcm16kResampler

LOOPBACK = ("127.0.0.1",)
LOOPBACK_ICE = IceSettings(host_addresses=LOOPBACK)
CAFE = 7
EXPERT = 1


class MovingPicture(VideoStreamTrack):
    """320x240 at 30 fps, a gradient that scrolls: every frame differs from the last."""

    def __init__(self) -> None:
        super().__init__()
        ramp = np.arange(320, dtype=np.uint8)[None, :].repeat(240, axis=0)
        self._base = np.stack([ramp, ramp[::-1, ::-1], ramp], axis=-1)
        self._count = 0

    async def recv(self) -> VideoFrame:
        pts, time_base = await self.next_timestamp()
        self._count += 1
        frame = VideoFrame.from_ndarray(
            np.roll(self._base, self._count * 5, axis=1), format="rgb24"
        )
        frame.pts = pts
        frame.time_base = time_base
        return frame


def _pc() -> RTCPeerConnection:
    # max-bundle, as the server: aiortc's "balanced" loses the 3rd section of a kind.
    return RTCPeerConnection(build_configuration())


async def _offer(pc: RTCPeerConnection) -> str:
    offer = await pc.createOffer()
    with offered_host_addresses(LOOPBACK):
        await pc.setLocalDescription(offer)
    assert pc.localDescription is not None
    return pc.localDescription.sdp


@dataclass
class Received:
    """What one subscriber decoded, per track in slot order (video, audio0, audio1...)."""

    pc: RTCPeerConnection
    tracks: list[MediaStreamTrack]
    start: float = field(default_factory=time.monotonic)
    frames: dict[int, list[tuple[float, VideoFrame | AudioFrame]]] = field(default_factory=dict)
    ended: set[int] = field(default_factory=set)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def count(self, index: int) -> int:
        return len(self.frames.get(index, []))

    def first_at(self, index: int) -> float | None:
        frames = self.frames.get(index)
        return frames[0][0] - self.start if frames else None

    async def consume(self, index: int, track: MediaStreamTrack) -> None:
        try:
            while True:
                frame = await track.recv()
                assert isinstance(frame, VideoFrame | AudioFrame)
                self.frames.setdefault(index, []).append((time.monotonic(), frame))
        except MediaStreamError:
            self.ended.add(index)

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.pc.close()


@pytest.fixture
async def router() -> AsyncIterator[MediaRouter]:
    media = MediaRouter(ice=LOOPBACK_ICE, sdp_max_bytes=20_000, max_tracks_per_publisher=2)
    yield media
    await media.close()


@pytest.fixture
async def peers() -> AsyncIterator[list[RTCPeerConnection | Received]]:
    opened: list[RTCPeerConnection | Received] = []
    yield opened
    for peer in opened:
        await peer.close()


async def publish(
    router: MediaRouter,
    peers: list[RTCPeerConnection | Received],
    participant_id: int,
    *,
    video: bool = True,
    allow_video: bool = True,
) -> RTCPeerConnection:
    pc = _pc()
    peers.append(pc)
    pc.addTrack(Tone())
    if video:
        pc.addTrack(MovingPicture())
    answer = await router.publish(CAFE, participant_id, await _offer(pc), allow_video=allow_video)
    await pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
    return pc


async def subscribe(
    router: MediaRouter, peers: list[RTCPeerConnection | Received], participant_id: int
) -> Received:
    pc = _pc()
    tracks: list[MediaStreamTrack] = []
    pc.on("track", tracks.append)
    offer = await router.subscribe(CAFE, participant_id)
    await pc.setRemoteDescription(RTCSessionDescription(offer, "offer"))
    answer = await pc.createAnswer()
    with offered_host_addresses(LOOPBACK):
        await pc.setLocalDescription(answer)
    assert pc.localDescription is not None
    received = Received(pc, tracks)
    peers.append(received)
    await router.accept_answer(CAFE, participant_id, pc.localDescription.sdp)
    received.tasks = [
        asyncio.create_task(received.consume(i, track)) for i, track in enumerate(tracks)
    ]
    return received


async def wait_until(
    predicate: object, within: float, what: str, extra: Callable[[], object] = lambda: ""
) -> None:
    assert callable(predicate)
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}: {extra()}")
        await asyncio.sleep(0.05)


def moving(frames: list[tuple[float, VideoFrame | AudioFrame]]) -> bool:
    pictures = [f.to_ndarray(format="gray") for _, f in frames[-5:] if isinstance(f, VideoFrame)]
    return len(pictures) >= 2 and any(
        not np.array_equal(a, b) for a, b in itertools.pairwise(pictures)
    )


async def test_two_subscribers_receive_video_and_audio(
    router: MediaRouter, peers: list[RTCPeerConnection | Received]
) -> None:
    await publish(router, peers, EXPERT)
    first = await subscribe(router, peers, 101)
    second = await subscribe(router, peers, 102)
    assert [t.kind for t in first.tracks] == ["video", "audio", "audio", "audio"]

    def flowing() -> bool:
        return all(r.count(0) >= 20 and r.count(1) >= 30 for r in (first, second))

    await wait_until(flowing, 6, "video and audio at both subscribers")
    for received in (first, second):
        assert moving(received.frames[0])
        frame = received.frames[0][-1][1]
        assert isinstance(frame, VideoFrame)
        assert (frame.width, frame.height) == (320, 240)
        sound = received.frames[1][-1][1]
        assert isinstance(sound, AudioFrame)
        assert np.abs(sound.to_ndarray()).max() > 1000  # the tone, not silence
        assert received.count(2) == 0  # nobody on stage
    assert router.subscriber_count(CAFE) == 2
    assert router.publisher_count() == 1
    assert router.slot_sources(CAFE) == {"video": EXPERT, "audio0": EXPERT, "audio1": None,
                                         "audio2": None}
    stats = router.stats
    assert stats.frames_out > stats.frames_in > 0
    assert stats.packets_out > 0 and stats.bytes_out > 0


async def test_late_subscriber_gets_a_picture_within_two_seconds(
    router: MediaRouter, peers: list[RTCPeerConnection | Received]
) -> None:
    await publish(router, peers, EXPERT)
    early = await subscribe(router, peers, 101)
    await wait_until(lambda: early.count(0) >= 30, 6, "the early subscriber's video")
    late = await subscribe(router, peers, 102)
    await wait_until(lambda: late.count(0) >= 1, 2.0, "the late subscriber's first picture")
    first = late.first_at(0)
    assert first is not None and first < 2.0
    await wait_until(lambda: late.count(0) >= 10, 3, "more pictures")
    assert moving(late.frames[0])


async def test_refused_publications_leave_media_flowing(
    router: MediaRouter, peers: list[RTCPeerConnection | Received]
) -> None:
    await publish(router, peers, EXPERT)
    viewer = await subscribe(router, peers, 101)
    await wait_until(lambda: viewer.count(0) >= 10, 6, "video before the refusals")

    parent = _pc()
    peers.append(parent)
    parent.addTrack(Tone())
    parent.addTrack(MovingPicture())
    offer = await _offer(parent)
    with pytest.raises(VideoNotAllowed) as refused:
        await router.publish(CAFE, 201, offer, allow_video=False)
    assert isinstance(refused.value, PermissionDenied)

    with pytest.raises(SdpTooLarge) as too_large:
        await router.publish(CAFE, 201, offer + "a=x-pad:" + "x" * 20_000 + "\r\n",
                             allow_video=True)
    assert isinstance(too_large.value, InvalidInput)

    for garbage in ("hello", "v=0\r\nm=audio oops\r\n", "", "v=0\r\n" + "a=\r\n" * 10):
        with pytest.raises(InvalidSdp):
            await router.publish(CAFE, 201, garbage, allow_video=True)

    crowded = _pc()
    peers.append(crowded)
    for _ in range(3):
        crowded.addTrack(Tone())
    with pytest.raises(TooManyTracks):
        await router.publish(CAFE, 202, await _offer(crowded), allow_video=False)

    with pytest.raises(SlotsFull):  # the video slot is the expert's
        await router.publish(CAFE, 201, offer, allow_video=True)

    with pytest.raises(NoSuchPeer):
        await router.accept_answer(CAFE, 999, offer)

    assert router.publisher_count(CAFE) == 1
    assert router.slot_sources(CAFE)["audio1"] is None
    before_video, before_audio = viewer.count(0), viewer.count(1)
    await wait_until(
        lambda: viewer.count(0) >= before_video + 15 and viewer.count(1) >= before_audio + 25,
        4,
        "media still flowing after the refusals",
    )


async def test_stage_parent_feeds_an_audio_slot_and_does_not_hear_itself(
    router: MediaRouter, peers: list[RTCPeerConnection | Received]
) -> None:
    await publish(router, peers, EXPERT)
    viewer = await subscribe(router, peers, 101)
    parent_view = await subscribe(router, peers, 201)
    await publish(router, peers, 201, video=False, allow_video=False)
    assert router.slot_sources(CAFE)["audio1"] == 201

    await wait_until(
        lambda: viewer.count(2) >= 25 and parent_view.count(1) >= 25, 6, "the parent's voice",
        lambda: ([viewer.count(i) for i in range(4)], [parent_view.count(i) for i in range(4)],
                 router.stats)
    )
    assert parent_view.count(2) == 0  # its own voice is not sent back

    await router.unpublish(CAFE, 201)
    assert router.slot_sources(CAFE)["audio1"] is None
    await asyncio.sleep(0.3)
    stopped_at = viewer.count(2)
    await asyncio.sleep(0.5)
    assert viewer.count(2) == stopped_at
    assert router.subscriber_count(CAFE) == 2


async def test_mute_stops_audio_forwarding_and_taps(
    router: MediaRouter, peers: list[RTCPeerConnection | Received]
) -> None:
    await publish(router, peers, EXPERT)
    viewer = await subscribe(router, peers, 101)
    tapped: list[AudioChunk] = []
    remove = router.add_audio_tap(CAFE, tapped.append)
    await wait_until(lambda: viewer.count(1) >= 20, 6, "audio before the mute")

    router.mute(CAFE, EXPERT, True)
    await asyncio.sleep(0.4)  # frames already in flight
    audio_at, tapped_at, video_at = viewer.count(1), len(tapped), viewer.count(0)
    await asyncio.sleep(0.8)
    assert viewer.count(1) == audio_at
    assert len(tapped) == tapped_at
    assert viewer.count(0) >= video_at + 10  # the picture goes on

    router.mute(CAFE, EXPERT, False)
    await wait_until(lambda: viewer.count(1) >= audio_at + 20, 4, "audio after the unmute")
    remove()
    assert router.stats.audio_frames_muted > 0


async def test_audio_tap_delivers_frames_of_each_speaker(
    router: MediaRouter, peers: list[RTCPeerConnection | Received]
) -> None:
    tap = router.open_audio_tap(CAFE)
    await publish(router, peers, EXPERT, video=False)
    chunks: list[AudioChunk] = []

    async def read() -> None:
        async for chunk in tap:
            chunks.append(chunk)

    reader = asyncio.create_task(read())
    await wait_until(lambda: len(chunks) >= 50, 6, "one second of tapped audio")
    resampler = Pcm16kResampler()
    pcm = np.concatenate([resampler.resample(c.frame) for c in chunks[:50]])
    assert pcm.dtype == np.int16 and pcm.ndim == 1
    assert 15_000 <= len(pcm) <= 16_000  # about one second at 16 kHz
    assert np.abs(pcm).max() > 1000
    assert {c.participant_id for c in chunks} == {EXPERT}
    assert {c.cafe_id for c in chunks} == {CAFE}
    assert chunks[0].frame.sample_rate == 48000
    times = [c.timestamp for c in chunks]
    assert times == sorted(times)

    await router.close_cafe(CAFE)  # ends the tap's iteration
    await asyncio.wait_for(reader, 2)


async def test_close_cafe_stops_subscribers_tracks(
    router: MediaRouter, peers: list[RTCPeerConnection | Received]
) -> None:
    publisher = await publish(router, peers, EXPERT)
    viewer = await subscribe(router, peers, 101)
    await wait_until(lambda: viewer.count(0) >= 5, 6, "video before the end")

    await router.close_cafe(CAFE)
    assert router.cafe_ids() == []
    await wait_until(lambda: 0 in viewer.ended, 5, "the subscriber's video track to end")
    await wait_until(
        lambda: publisher.connectionState == "closed" and viewer.pc.connectionState == "closed",
        5,
        "both connections to close",
    )


async def test_slow_encoder_drops_frames_instead_of_queueing_them(
    peers: list[RTCPeerConnection | Received], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An encoder at 5 fps behind a 30 fps camera: frames are dropped, memory stays flat."""
    encode = pumps.encode_video
    encoded = 0

    def slow(*args: object) -> tuple[list[bytes], int]:
        nonlocal encoded
        time.sleep(0.2)
        encoded += 1
        return encode(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(pumps, "encode_video", slow)
    router = MediaRouter(ice=LOOPBACK_ICE, video_backlog=2)
    try:
        await publish(router, peers, EXPERT)
        viewer = await subscribe(router, peers, 101)
        received_before = router.stats.video_frames_received
        await wait_until(lambda: viewer.count(0) >= 3, 8, "slowed video")
        await wait_until(lambda: router.stats.video_frames_dropped >= 20, 6, "dropped frames")
        stats = router.stats
        # Every frame decoded since the subscriber came was encoded, dropped, or is one of
        # the few in flight (backlog of 2, one in the encoder): nothing piles up.
        waiting = (
            stats.video_frames_received - received_before - stats.video_frames_dropped - encoded
        )
        assert -2 <= waiting <= 2 + 1 + 2, (waiting, stats, encoded)
        assert encoded < (stats.video_frames_received - received_before) / 2
        assert viewer.count(1) > 0  # audio is not held back by the video encoder
    finally:
        await router.close()
