"""The MediaRouter's per-subscriber send path in CPU time, beside MediaRelay's per-subscriber
work, in one process: a figure that a loaded machine does not move much.

`media_fanout.py` judges whole runs (publisher, subscribers, server) by wall-clock rules, so
on a machine shared with other work every step fails and its fit means nothing. This one
times only what the server does per subscriber: N real aiortc subscribers of one café are
connected in this process (ICE, DTLS, SRTP on 127.0.0.1), then `Slot.forward` of Opus and
VP8 payloads runs under `time.thread_time` (the CPU this thread got, not the time it waited).
Beside it, MediaRelay's per-subscriber work: one VP8 encode of a 640x480 frame.

    .venv/bin/python bench/media_sendpath.py                      # this checkout, N = 30
    .venv/bin/python bench/media_sendpath.py --tree /tmp/before   # another tree's code

``--tree`` puts that tree first on ``sys.path``: the same venv then runs its code (a
`git worktree add /tmp/before <commit>`). It reads the router's rooms (`_rooms`, a private
attribute present in every version so far).
"""

from __future__ import annotations

import argparse
import asyncio
import fractions
import importlib
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

LOOPBACK = ("127.0.0.1",)
CAFE = 1


def _router(media: Any) -> Any:
    if hasattr(media, "IceSettings"):
        return media.MediaRouter(ice=media.IceSettings(host_addresses=LOOPBACK))
    return media.MediaRouter(host_addresses=LOOPBACK)  # before the settings model


async def measure(n: int, repeat: int) -> dict[str, Any]:
    import av
    import numpy as np
    from aiortc import RTCPeerConnection, RTCSessionDescription
    from aiortc.codecs.opus import OpusEncoder
    from aiortc.codecs.vpx import Vp8Encoder

    media = importlib.import_module("signaling.media")
    router = _router(media)
    pcs: list[RTCPeerConnection] = []
    try:
        for i in range(n):
            offer = await router.subscribe(CAFE, 100 + i)
            pc = RTCPeerConnection(media.build_configuration())
            pcs.append(pc)
            await pc.setRemoteDescription(RTCSessionDescription(offer, "offer"))
            with media.offered_host_addresses(LOOPBACK):
                await pc.setLocalDescription(await pc.createAnswer())
            assert pc.localDescription is not None
            await router.accept_answer(CAFE, 100 + i, pc.localDescription.sdp)
        room = router._rooms[CAFE]
        audio, video = room.audio[0], room.video
        deadline = time.monotonic() + 120
        while len(audio.ready()) < n or len(video.ready()) < n:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(audio.ready())} of {n} subscribers connected")
            await asyncio.sleep(0.2)
        audio.source = video.source = 1

        sound = av.AudioFrame.from_ndarray(
            (np.sin(np.arange(960) / 10) * 8000).astype(np.int16).reshape(1, -1),
            format="s16", layout="mono")
        sound.sample_rate = 48000
        sound.pts = 0
        opus, _ = OpusEncoder().encode(sound)
        picture = av.VideoFrame.from_ndarray(
            np.random.default_rng(1).integers(0, 255, (480, 640, 3), dtype=np.uint8),
            format="rgb24").reformat(format="yuv420p")
        picture.pts = 0
        picture.time_base = fractions.Fraction(1, 90000)
        encoder = Vp8Encoder()
        encoder.target_bitrate = 500_000
        vp8, _ = encoder.encode(picture, True)

        encodes = []
        for _ in range(20):  # MediaRelay: one VP8 encode per frame and per subscriber
            started = time.thread_time()
            encoder.encode(picture, False)
            encodes.append(time.thread_time() - started)
        spent: dict[str, list[float]] = {"audio": [], "video": []}
        timestamp = 0
        for _ in range(repeat):
            for kind, slot, payloads, frames in (("audio", audio, opus, 50),
                                                 ("video", video, vp8, 5)):
                started = time.thread_time()
                for _ in range(frames):
                    timestamp += 960
                    slot.forward(payloads, 1, timestamp, keyframe=True)
                spent[kind].append((time.thread_time() - started)
                                   / (frames * len(payloads) * n))
                await asyncio.sleep(0.05)  # the subscribers read their sockets (not timed)
        return {
            "subscribers": n,
            "audio_us_per_packet_and_subscriber": statistics.median(spent["audio"]) * 1e6,
            "video_us_per_packet_and_subscriber": statistics.median(spent["video"]) * 1e6,
            "vp8_packets_per_frame": len(vp8),
            "relay_vp8_encode_ms": statistics.median(encodes) * 1e3,
        }
    finally:
        await router.close()
        for pc in pcs:
            await pc.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--tree", type=Path, default=Path(__file__).resolve().parent.parent,
                        help="the checkout whose signaling.media is measured")
    parser.add_argument("--subscribers", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    sys.path.insert(0, str(args.tree.resolve()))
    load = os.getloadavg()[0]
    result = asyncio.run(measure(args.subscribers, args.repeat))
    print(json.dumps({"tree": str(args.tree), "load_before": round(load, 2),
                      "load_after": round(os.getloadavg()[0], 2), **result}))


if __name__ == "__main__":
    main()
