"""Synthetic media for tests with real aiortc peers."""

from __future__ import annotations

import asyncio
import fractions
import time
from typing import Any, Protocol

import numpy as np
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import AudioStreamTrack
from av import AudioFrame

from signaling.media import build_configuration, offered_host_addresses


class Tone(AudioStreamTrack):
    """A 440 Hz tone (or ``frequency``), 48 kHz mono, 20 ms frames in real time."""

    def __init__(self, frequency: float = 440) -> None:
        super().__init__()
        self.frequency = frequency
        self._sent = 0
        self._t0 = 0.0

    async def recv(self) -> AudioFrame:
        rate, samples = 48000, 960
        if self._sent == 0:
            self._t0 = time.monotonic()
        else:
            await asyncio.sleep(self._t0 + self._sent / rate - time.monotonic())
        t = (np.arange(samples) + self._sent) / rate
        pcm = (np.sin(2 * np.pi * self.frequency * t) * 8000).astype(np.int16).reshape(1, -1)
        frame = AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
        frame.pts = self._sent
        frame.sample_rate = rate
        frame.time_base = fractions.Fraction(1, rate)
        self._sent += samples
        return frame


class Caller(Protocol):
    async def call(self, event: str, payload: Any = None, wait: float = 10) -> Any: ...


async def publish_tone(peer: Caller, pcs: list[RTCPeerConnection]) -> dict[str, Any]:
    """Publish a `Tone` as a browser does (`media.publish`, then the answer); the ack.
    The connection goes into ``pcs`` (the `pcs` fixture closes them)."""
    pc = RTCPeerConnection(build_configuration())
    pcs.append(pc)
    pc.addTransceiver(Tone(), direction="sendonly")
    return await negotiate_publish(peer, pc)


async def negotiate_publish(peer: Caller, pc: RTCPeerConnection) -> dict[str, Any]:
    """`media.publish` with ``pc``'s offer (its tracks already added), as a browser sends
    it; the server's answer applied when the ack is ok. The ack."""
    with offered_host_addresses(("127.0.0.1",)):
        await pc.setLocalDescription(await pc.createOffer())
    assert pc.localDescription is not None
    ack: dict[str, Any] = await peer.call("media.publish", {"sdp": pc.localDescription.sdp,
                                                            "type": "offer"})
    if ack["ok"]:
        await pc.setRemoteDescription(RTCSessionDescription(ack["sdp"], "answer"))
    return ack
