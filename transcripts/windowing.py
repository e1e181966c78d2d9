"""Caption windows: one speaker's audio cut into phrases, pure (no awaits, no clock reads).

`Windower` takes 16 kHz mono chunks with their café timestamps, asks a `SpeechDetector`
which 32 ms frames hold speech, and returns `CaptionWindow`s:

- a *final* window when a phrase ends (enough trailing silence), when it reaches the
  maximum length, or on `flush`;
- an *interim* window (the phrase so far) every `interim_every` seconds while the speaker is
  still talking, so that the caption line can grow before the phrase ends.

Every window carries the number of its `line` (one per phrase): the interims of a phrase and
its final share it, and the page replaces that line's text instead of adding a new one.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from transcripts.engine import SAMPLE_RATE, Audio

FRAME = 512  # samples: 32 ms at 16 kHz, Silero's frame
FRAME_SECONDS = FRAME / SAMPLE_RATE


class SpeechDetector(Protocol):
    def __call__(self, frames: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Speech probability (0..1) for each row of `frames` (shape (n, FRAME))."""
        ...


@dataclass
class EnergyDetector:
    """A loudness gate with an adaptive noise floor: speech is `margin_db` above it."""

    margin_db: float = 12.0
    floor_db: float = -60.0
    min_db: float = -50.0

    def __call__(self, frames: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        out = np.zeros(len(frames), dtype=np.float32)
        for i, frame in enumerate(frames):
            db = 20 * np.log10(np.sqrt(np.mean(frame.astype(np.float64) ** 2)) + 1e-9)
            speech = db > max(self.floor_db + self.margin_db, self.min_db)
            out[i] = 1.0 if speech else 0.0
            # The floor follows quiet frames quickly, loud ones slowly.
            rate = 0.05 if db < self.floor_db + self.margin_db else 0.002
            self.floor_db += rate * (db - self.floor_db)
        return out


class SileroDetector:
    """faster-whisper's bundled Silero VAD (ONNX, one thread), frame by frame."""

    def __init__(self) -> None:
        from faster_whisper.vad import get_vad_model

        self._model: Any = get_vad_model()

    def __call__(self, frames: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        if len(frames) == 0:
            return np.zeros(0, dtype=np.float32)
        probs = self._model(np.ascontiguousarray(frames.reshape(-1), dtype=np.float32))
        return np.asarray(probs, dtype=np.float32).reshape(-1)[: len(frames)]


@dataclass(frozen=True)
class CaptionWindow:
    speaker: str
    line: int  # the phrase's number for this speaker: interims and final share it
    start: float  # café seconds of the first sample
    end: float
    audio: Audio
    final: bool  # False: the phrase so far (an interim); True: the phrase's last window
    phrase_end: bool  # final only: True when trailing silence closed it, False when cut
    speech_end: float  # café seconds of the last speech frame (latency reference)


@dataclass(frozen=True)
class WindowPolicy:
    threshold: float = 0.5
    min_silence: float = 0.5  # trailing silence that ends a phrase
    max_window: float = 10.0  # a longer phrase is cut (captions keep flowing)
    min_speech: float = 0.25  # shorter bursts (a cough) are dropped
    pre_roll: float = 0.2  # audio kept before the first speech frame
    max_gap: float = 0.5  # a hole in the timestamps longer than this ends the phrase
    interim_every: float = 0.0  # seconds of phrase between interims (0: no interims)


@dataclass
class Windower:
    speaker: str
    detector: SpeechDetector
    policy: WindowPolicy = field(default_factory=WindowPolicy)
    _pending: npt.NDArray[np.float32] = field(
        default_factory=lambda: np.zeros(0, dtype=np.float32), init=False)
    _pending_start: float = field(default=0.0, init=False)
    _frames: list[npt.NDArray[np.float32]] = field(default_factory=list, init=False)
    _start: float = field(default=0.0, init=False)
    _speech_frames: int = field(default=0, init=False)
    _silence_run: int = field(default=0, init=False)
    _last_speech: float = field(default=0.0, init=False)
    _line: int = field(default=0, init=False)
    _interim_at: int = field(default=0, init=False)  # frames in the window at the last one
    _pre: deque[tuple[float, npt.NDArray[np.float32]]] = field(
        default_factory=deque, init=False)

    def push(self, pcm: npt.NDArray[np.int16] | npt.NDArray[np.float32],
             timestamp: float) -> list[CaptionWindow]:
        """Add a chunk whose first sample is at café time `timestamp`; return the windows
        it closed or grew (in order)."""
        samples = (pcm.astype(np.float32) / 32768.0 if pcm.dtype == np.int16
                   else pcm.astype(np.float32)).reshape(-1)
        out: list[CaptionWindow] = []
        expected = self._pending_start + len(self._pending) / SAMPLE_RATE
        if len(self._pending) == 0:
            self._pending_start = timestamp
        elif abs(timestamp - expected) > self.policy.max_gap:
            out.extend(self.flush())
            self._pending_start = timestamp
        self._pending = np.concatenate([self._pending, samples])
        n = len(self._pending) // FRAME
        if n == 0:
            return out
        frames = self._pending[: n * FRAME].reshape(n, FRAME)
        base = self._pending_start
        self._pending = self._pending[n * FRAME:]
        self._pending_start = base + n * FRAME_SECONDS
        probs = self.detector(frames)
        for i in range(n):
            window = self._frame(frames[i], base + i * FRAME_SECONDS,
                                 bool(probs[i] >= self.policy.threshold))
            if window is not None:
                out.append(window)
        # Several interims of one chunk: only the last one is worth transcribing.
        return [w for i, w in enumerate(out)
                if w.final or not any(not x.final for x in out[i + 1:])]

    def flush(self) -> list[CaptionWindow]:
        """Close the current phrase (the speaker stopped publishing, or a gap)."""
        window = self._close(phrase_end=True)
        self._pending = np.zeros(0, dtype=np.float32)
        self._pre.clear()
        return [window] if window is not None else []

    def _frame(self, frame: npt.NDArray[np.float32], t: float,
               speech: bool) -> CaptionWindow | None:
        p = self.policy
        if not self._frames:
            if not speech:
                self._pre.append((t, frame))
                while len(self._pre) * FRAME_SECONDS > p.pre_roll:
                    self._pre.popleft()
                return None
            self._start = self._pre[0][0] if self._pre else t
            self._frames = [f for _, f in self._pre]
            self._pre.clear()
            self._line += 1
            self._interim_at = 0
        self._frames.append(frame)
        if speech:
            self._speech_frames += 1
            self._silence_run = 0
            self._last_speech = t + FRAME_SECONDS
        else:
            self._silence_run += 1
        if self._silence_run * FRAME_SECONDS >= p.min_silence:
            return self._close(phrase_end=True)
        if len(self._frames) * FRAME_SECONDS >= p.max_window:
            return self._close(phrase_end=False)
        if (p.interim_every > 0 and speech
                and (len(self._frames) - self._interim_at) * FRAME_SECONDS >= p.interim_every
                and self._speech_frames * FRAME_SECONDS >= p.min_speech):
            self._interim_at = len(self._frames)
            return self._window(np.concatenate(self._frames), final=False, phrase_end=False)
        return None

    def _close(self, phrase_end: bool) -> CaptionWindow | None:
        frames, self._frames = self._frames, []
        speech, self._speech_frames = self._speech_frames, 0
        self._silence_run = 0
        if not frames or speech * FRAME_SECONDS < self.policy.min_speech:
            return None
        return self._window(np.concatenate(frames), final=True, phrase_end=phrase_end)

    def _window(self, audio: Audio, final: bool, phrase_end: bool) -> CaptionWindow:
        return CaptionWindow(
            speaker=self.speaker, line=self._line, start=round(self._start, 3),
            end=round(self._start + len(audio) / SAMPLE_RATE, 3), audio=audio, final=final,
            phrase_end=phrase_end, speech_end=round(self._last_speech, 3),
        )
