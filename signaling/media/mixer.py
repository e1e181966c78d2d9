"""`AudioMixer`: every stage speaker's audio summed on one sample timeline, sans I/O.

The programme (`signaling.media.programme`) places each speaker's decoded samples at the
sample index their arrival instant says (48 kHz mono int16), and pulls the mix a fixed delay
behind, one tick at a time. A speaker's frames are laid end to end from where the first one
landed (the jitter of arrival instants is not a gap, nor is a burst of frames handed over
at once); a frame more than ``resync`` ahead of where the previous one ended (the speaker
was muted, or their network stalled) starts a new run at its own place. Samples that
arrive behind the pull cursor are late and dropped (counted), and so are samples more than
``max_lead`` ahead of it.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

__all__ = ["PCM", "AudioMixer", "MixerStats"]

PCM = npt.NDArray[np.int16]


@dataclass(slots=True)
class MixerStats:
    """Samples dropped by the mixer (all only grow)."""

    late_samples: int = 0  # arrived behind the cursor: the pull had already passed
    overflow_samples: int = 0  # more than ``max_lead`` ahead of the cursor


@dataclass(slots=True)
class _Voice:
    end: int | None = None  # sample index after the last sample received
    runs: deque[tuple[int, PCM]] = field(default_factory=deque)  # (first index, samples)


class AudioMixer:
    """Sum speakers' int16 samples on one timeline; ``pull(n)`` returns the next ``n``."""

    def __init__(self, rate: int = 48_000, *, resync: float = 0.2, max_lead: float = 5.0,
                 start: int = 0) -> None:
        self.rate = rate
        self.cursor = start  # index of the next sample `pull` returns
        self._resync = round(resync * rate)
        self._max_lead = round(max_lead * rate)
        self._voices: dict[int, _Voice] = {}
        self.stats = MixerStats()

    def push(self, key: int, samples: PCM, position: int) -> None:
        """``samples`` of speaker ``key``, the first belonging at ``position``."""
        if not len(samples):
            return
        voice = self._voices.setdefault(key, _Voice())
        start = position
        # Behind the end (a burst: a busy loop hands over many frames at once) or a little
        # ahead (jitter): end to end. Only a frame more than `resync` ahead is a pause. Going
        # back to a burst's arrival instants would mix a frame over the last ones and leave a
        # hole after (bursts of 300 ms: a quarter of the programme silent, some doubled).
        if voice.end is not None and position - voice.end <= self._resync:
            start = voice.end
        voice.end = start + len(samples)
        if start < self.cursor:
            behind = self.cursor - start
            self.stats.late_samples += min(behind, len(samples))
            samples = samples[behind:]
            start = self.cursor
            if not len(samples):
                return
        if start + len(samples) > self.cursor + self._max_lead:
            self.stats.overflow_samples += len(samples)
            return
        voice.runs.append((start, samples))

    def remove(self, key: int) -> None:
        """Forget a speaker (they left the stage); what they sent is still mixed."""
        voice = self._voices.get(key)
        if voice is not None:
            voice.end = None
            if not voice.runs:
                del self._voices[key]

    def pull(self, count: int) -> PCM:
        """The next ``count`` mixed samples (silence where nobody spoke), clipped."""
        lo, hi = self.cursor, self.cursor + count
        mix = np.zeros(count, dtype=np.int32)
        for key in list(self._voices):
            voice = self._voices[key]
            runs = voice.runs
            while runs:
                start, samples = runs[0]
                stop = start + len(samples)
                if start >= hi:
                    break
                a, b = max(start, lo), min(stop, hi)
                if b > a:
                    mix[a - lo:b - lo] += samples[a - start:b - start]
                if stop <= hi:
                    runs.popleft()
                else:
                    break
            if not runs and voice.end is None:
                del self._voices[key]
        self.cursor = hi
        return np.clip(mix, -32768, 32767).astype(np.int16)
