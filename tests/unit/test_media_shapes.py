"""Media plane pieces without sockets: SDP shape checks, ICE settings, errors, resampling."""

from __future__ import annotations

import aioice.ice
import av
import numpy as np
import pytest
from aiortc import RTCBundlePolicy

from sessions.errors import InvalidInput, InvalidTransition, NotFound, PermissionDenied
from signaling.media import (
    IceSettings,
    InvalidSdp,
    NoSuchPeer,
    SdpTooLarge,
    SlotsFull,
    TooManyTracks,
    VideoNotAllowed,
    build_configuration,
    offered_host_addresses,
)
from signaling.media.sdp import check_answer, check_offer
from transcripts.feed import Pcm16kResampler

SESSION = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"
TRANSPORT = (
    "c=IN IP4 0.0.0.0\r\na=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuv\r\n"
    "a=fingerprint:sha-256 " + ":".join(["AB"] * 32) + "\r\na=setup:actpass\r\n"
)


def section(kind: str, direction: str = "sendonly") -> str:
    if kind == "audio":
        return (
            f"m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n{TRANSPORT}a=mid:a\r\na={direction}\r\n"
            "a=rtcp-mux\r\na=rtpmap:111 opus/48000/2\r\n"
        )
    return (
        f"m=video 9 UDP/TLS/RTP/SAVPF 96\r\n{TRANSPORT}a=mid:v\r\na={direction}\r\n"
        "a=rtcp-mux\r\na=rtpmap:96 VP8/90000\r\n"
    )


def offer(*kinds: str) -> str:
    return SESSION + "".join(section(k) for k in kinds)


def test_offer_shapes() -> None:
    shape = check_offer(offer("audio", "video"), limit=20_000, max_tracks=2, allow_video=True)
    assert (shape.audio, shape.video) == (True, True)
    shape = check_offer(offer("audio"), limit=20_000, max_tracks=2, allow_video=False)
    assert (shape.audio, shape.video) == (True, False)


def test_offer_refusals() -> None:
    with pytest.raises(VideoNotAllowed):
        check_offer(offer("audio", "video"), limit=20_000, max_tracks=2, allow_video=False)
    with pytest.raises(SdpTooLarge):
        check_offer(offer("audio"), limit=100, max_tracks=2, allow_video=True)
    with pytest.raises(TooManyTracks):
        check_offer(offer("audio", "audio", "video"), limit=20_000, max_tracks=2,
                    allow_video=True)
    with pytest.raises(TooManyTracks):  # two of a kind
        check_offer(offer("audio", "audio"), limit=20_000, max_tracks=2, allow_video=True)
    for garbage in ("", "hello", SESSION, SESSION + "m=audio x\r\n",
                    SESSION + "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n" + TRANSPORT,
                    offer("audio").replace("a=ice-ufrag:abcd\r\n", "")):
        with pytest.raises(InvalidSdp):
            check_offer(garbage, limit=20_000, max_tracks=2, allow_video=True)


def test_answer_must_match_the_offered_sections() -> None:
    check_answer(offer("video", "audio"), limit=20_000, sections=2)
    with pytest.raises(InvalidSdp):
        check_answer(offer("video"), limit=20_000, sections=2)


def test_errors_subclass_the_domain_hierarchy() -> None:
    assert issubclass(SdpTooLarge, InvalidInput)
    assert issubclass(InvalidSdp, InvalidInput)
    assert issubclass(TooManyTracks, InvalidInput)
    assert issubclass(VideoNotAllowed, PermissionDenied)
    assert issubclass(SlotsFull, InvalidTransition)
    assert issubclass(NoSuchPeer, NotFound)
    assert str(SdpTooLarge(limit=10)) == "The media description is too large (at most 10 bytes)."


def test_configuration_never_falls_back_to_a_public_stun_server() -> None:
    empty = build_configuration()
    assert empty.iceServers == []
    assert empty.bundlePolicy == RTCBundlePolicy.MAX_BUNDLE
    full = build_configuration(IceSettings(
        stun_urls=("stun:stun.example.org:3478",), turn_urls=("turn:turn.example.org",),
        turn_username="user", turn_credential="secret"))
    assert full.iceServers is not None
    assert [s.urls for s in full.iceServers] == [
        ["stun:stun.example.org:3478"], ["turn:turn.example.org"]]
    assert full.iceServers[1].username == "user"
    assert full.iceServers[1].credential == "secret"


def test_host_addresses_apply_only_inside_the_block() -> None:
    with offered_host_addresses(("127.0.0.1", "::1")):
        assert aioice.ice.get_host_addresses(True, True) == ["127.0.0.1", "::1"]
        assert aioice.ice.get_host_addresses(True, False) == ["127.0.0.1"]
    assert "127.0.0.1" not in aioice.ice.get_host_addresses(True, True)
    with offered_host_addresses(()):  # empty: aioice's own choice
        assert "127.0.0.1" not in aioice.ice.get_host_addresses(True, True)


def test_resampler_gives_16k_mono_int16() -> None:
    resampler = Pcm16kResampler()
    samples = []
    for i in range(50):  # one second of 48 kHz stereo, 20 ms frames
        t = (np.arange(960) + i * 960) / 48000
        tone = (np.sin(2 * np.pi * 440 * t) * 10000).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(
            np.stack([tone, tone]).T.reshape(1, -1).copy(), format="s16", layout="stereo"
        )
        frame.sample_rate = 48000
        samples.append(resampler.resample(frame))
    pcm = np.concatenate(samples)
    assert pcm.dtype == np.int16 and pcm.ndim == 1
    assert 15_500 <= len(pcm) <= 16_000
    assert 8000 < np.abs(pcm[1000:]).max() <= 10_500
