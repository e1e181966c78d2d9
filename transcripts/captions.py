"""Live captions: a pure windowing core and an async service around it.

`Windower` takes one speaker's 16 kHz mono chunks with their café timestamps, asks a
`SpeechDetector` which 32 ms frames hold speech, and returns a `CaptionWindow` when a phrase
ends (enough trailing silence) or when a window reaches its maximum length. It never awaits
and reads no clock: tests drive it with arrays.

`CaptionService` feeds windows to a `TranscriberPool` (off the event loop, one at a time),
drops windows that waited too long (a live caption that late is useless), and calls `emit`
with `{cafe_id, speaker, text, start, end}`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from transcripts.engine import SAMPLE_RATE, Audio, TranscribeOptions, TranscriberPool

log = logging.getLogger("causerie.transcripts")

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
    start: float  # café seconds of the first sample
    end: float
    audio: Audio
    phrase_end: bool  # True: trailing silence closed it; False: cut at the maximum length
    speech_end: float  # café seconds of the last speech frame (latency reference)


@dataclass
class WindowPolicy:
    threshold: float = 0.5
    min_silence: float = 0.5  # trailing silence that ends a phrase
    max_window: float = 10.0  # a longer phrase is cut (captions keep flowing)
    min_speech: float = 0.25  # shorter bursts (a cough) are dropped
    pre_roll: float = 0.2  # audio kept before the first speech frame
    max_gap: float = 0.5  # a hole in the timestamps longer than this ends the phrase


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
    _pre: deque[tuple[float, npt.NDArray[np.float32]]] = field(
        default_factory=deque, init=False)

    def push(self, pcm: npt.NDArray[np.int16] | npt.NDArray[np.float32],
             timestamp: float) -> list[CaptionWindow]:
        """Add a chunk whose first sample is at café time `timestamp`; return closed windows."""
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
        return out

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
        return None

    def _close(self, phrase_end: bool) -> CaptionWindow | None:
        frames, self._frames = self._frames, []
        speech, self._speech_frames = self._speech_frames, 0
        self._silence_run = 0
        if not frames or speech * FRAME_SECONDS < self.policy.min_speech:
            return None
        audio = np.concatenate(frames)
        return CaptionWindow(
            speaker=self.speaker, start=round(self._start, 3),
            end=round(self._start + len(audio) / SAMPLE_RATE, 3), audio=audio,
            phrase_end=phrase_end, speech_end=round(self._last_speech, 3),
        )


def caption_prompt(title: str, glossary: str = "", max_chars: int = 200) -> str | None:
    """The prompt for caption windows: the café's terms as a glossary line.

    Not the café's title as a sentence: on a short window whose start is hard to hear,
    Whisper tends to "hear" the prompt's first sentence (seen: a phrase captioned as the
    café's title)."""
    terms = [t.strip() for t in glossary.replace(";", "\n").replace(",", "\n").splitlines()]
    words = ", ".join(t for t in terms if t) or title.strip()
    if not words:
        return None
    text = f"Glossaire : {words}"
    return (text[:max_chars].rsplit(" ", 1)[0] if len(text) > max_chars else text) + "."


def _words(text: str) -> str:
    return " ".join("".join(c if c.isalnum() else " " for c in text.lower()).split())


def is_prompt_echo(text: str, prompt: str | None) -> bool:
    """True when the caption is only words of the prompt (Whisper repeating it on audio it
    did not make out)."""
    found = _words(text)
    return bool(prompt) and bool(found) and found in _words(prompt or "")


# Fast speech is about 4 words a second, French words about 1.5-2 Whisper tokens each.
TOKENS_PER_SECOND = 10


def squash_repeats(text: str, min_repeats: int = 3, max_words: int = 6) -> str:
    """Collapse a run of the same 1..`max_words` words said `min_repeats` times or more into
    one (Whisper's repetition loop on hard audio: "les écrans, les écrans, les écrans...")."""
    words = text.split()
    keys = [w.strip(",.;:!?").lower() for w in words]
    out: list[str] = []
    i = 0
    while i < len(words):
        for n in range(1, max_words + 1):
            k = 1
            while (i + (k + 1) * n <= len(words)
                   and keys[i + k * n:i + (k + 1) * n] == keys[i:i + n]):
                k += 1
            if k >= min_repeats:
                out.extend(words[i:i + n])
                i += k * n
                break
        else:
            out.append(words[i])
            i += 1
    return " ".join(out)


@dataclass(frozen=True)
class Caption:
    cafe_id: int
    speaker: str
    text: str
    start: float
    end: float

    def as_dict(self) -> dict[str, Any]:
        return {"cafe_id": self.cafe_id, "speaker": self.speaker, "text": self.text,
                "start": self.start, "end": self.end}


EmitFn = Callable[[dict[str, Any]], Awaitable[None]]


@dataclass
class CaptionStream:
    """One speaker's caption feed; `push` is cheap and synchronous (called from the tap)."""

    service: CaptionService
    cafe_id: int
    windower: Windower

    def push(self, pcm: npt.NDArray[np.int16] | npt.NDArray[np.float32],
             timestamp: float) -> None:
        for window in self.windower.push(pcm, timestamp):
            self.service.submit(self.cafe_id, window)

    def close(self) -> None:
        for window in self.windower.flush():
            self.service.submit(self.cafe_id, window)


@dataclass
class _Job:
    cafe_id: int
    window: CaptionWindow
    queued_at: float  # monotonic


class CaptionService:
    """Transcribes caption windows off the loop, in order, dropping stale ones."""

    def __init__(self, pool: TranscriberPool, emit: EmitFn, *,
                 detector_factory: Callable[[], SpeechDetector] | None = None,
                 policy: WindowPolicy | None = None, max_wait: float = 6.0,
                 beam_size: int = 1,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.pool = pool
        self.emit = emit
        self.policy = policy or WindowPolicy()
        self.max_wait = max_wait
        self.beam_size = beam_size
        self._detector_factory = detector_factory or _default_detector
        self._clock = clock
        self._queue: asyncio.Queue[_Job | None] = asyncio.Queue()
        self._prompts: dict[int, tuple[str, str | None]] = {}
        self._task: asyncio.Task[None] | None = None
        # Latency samples: emitted-at minus the phrase's last speech, in the caller's clock.
        self.latencies: list[float] = []
        self.dropped = 0
        self.echoes = 0
        self._busy = 0

    def configure_cafe(self, cafe_id: int, language: str = "fr",
                       prompt: str | None = None) -> None:
        self._prompts[cafe_id] = (language, prompt)

    def open(self, cafe_id: int, speaker: str) -> CaptionStream:
        return CaptionStream(self, cafe_id, Windower(speaker, self._detector_factory(),
                                                     self.policy))

    def submit(self, cafe_id: int, window: CaptionWindow) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())
        self._queue.put_nowait(_Job(cafe_id, window, self._clock()))

    async def _run(self) -> None:
        while True:
            job = await self._queue.get()
            if job is None:
                return
            self._busy = 1
            try:
                await self._caption(job)
            finally:
                self._busy = 0

    async def _caption(self, job: _Job) -> None:
        waited = self._clock() - job.queued_at
        if waited > self.max_wait:
            self.dropped += 1
            log.warning("caption dropped cafe=%s speaker=%s waited=%.1fs",
                        job.cafe_id, job.window.speaker, waited)
            return
        language, prompt = self._prompts.get(job.cafe_id, ("fr", None))
        seconds = len(job.window.audio) / SAMPLE_RATE
        try:
            segments = await self.pool.transcribe(job.window.audio, TranscribeOptions(
                language=language, prompt=prompt, word_timestamps=False,
                beam_size=self.beam_size,
                max_new_tokens=int(TOKENS_PER_SECOND * seconds) + 10))
        except Exception:
            log.exception("caption failed cafe=%s speaker=%s", job.cafe_id,
                          job.window.speaker)
            return
        text = squash_repeats(" ".join(s.text for s in segments).strip())
        if not text:
            return
        if is_prompt_echo(text, prompt):
            self.echoes += 1
            log.info("caption dropped (prompt echo) cafe=%s speaker=%s", job.cafe_id,
                     job.window.speaker)
            return
        caption = Caption(job.cafe_id, job.window.speaker, text, job.window.start,
                          job.window.end)
        try:
            await self.emit(caption.as_dict())
        except Exception:
            log.exception("caption emit failed cafe=%s", job.cafe_id)
        # Wait from the end of the phrase: the window closed min_silence after it.
        self.latencies.append(self._clock() - job.queued_at
                              + (job.window.end - job.window.speech_end))

    def idle(self) -> bool:
        """True when no window waits or is being transcribed."""
        return self._queue.empty() and self._busy == 0

    async def aclose(self) -> None:
        if self._task is not None and not self._task.done():
            self._queue.put_nowait(None)
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._task = None


def _default_detector() -> SpeechDetector:
    try:
        return SileroDetector()
    except Exception:  # onnxruntime missing: a loudness gate still captions
        log.warning("silero VAD unavailable, captions use an energy gate")
        return EnergyDetector()
