"""Synthetic media for tests with real aiortc peers."""

from __future__ import annotations

import asyncio
import fractions
import time

import numpy as np
from aiortc.mediastreams import AudioStreamTrack
from av import AudioFrame


class Tone(AudioStreamTrack):
    """A 440 Hz tone, 48 kHz mono, 20 ms frames in real time."""

    def __init__(self) -> None:
        super().__init__()
        self._sent = 0
        self._t0 = 0.0

    async def recv(self) -> AudioFrame:
        rate, samples = 48000, 960
        if self._sent == 0:
            self._t0 = time.monotonic()
        else:
            await asyncio.sleep(self._t0 + self._sent / rate - time.monotonic())
        t = (np.arange(samples) + self._sent) / rate
        pcm = (np.sin(2 * np.pi * 440 * t) * 8000).astype(np.int16).reshape(1, -1)
        frame = AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
        frame.pts = self._sent
        frame.sample_rate = rate
        frame.time_base = fractions.Fraction(1, rate)
        self._sent += samples
        return frame
