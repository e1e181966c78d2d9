"""Live captions: the async service around the pure windowing and line logic.

`transcripts.windowing.Windower` cuts each speaker's audio into phrases (finals, and
interims while the phrase goes on); `transcripts.caption_lines` decides what to transcribe
next (finals first, stale ones dropped) and which message to send for each result.
`CaptionService` runs the caption model off the event loop (its own worker process, see
`CaptionSettings`) and calls `emit` with typed messages: `CaptionLine` (`captions`, one
line replaced as the phrase grows) and `CaptionsBehind` (`captions.behind`, a phrase that
had to be dropped).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from transcripts.caption_lines import (
    CaptionLine,
    CaptionLines,
    CaptionMessage,
    CaptionQueue,
    CaptionsBehind,
    Pending,
)
from transcripts.engine import (
    SAMPLE_RATE,
    Audio,
    ProgressFn,
    Segment,
    TranscribeOptions,
    TranscriberPool,
    WhisperSettings,
    glossary_terms,
    word_tokens,
)
from transcripts.windowing import (
    FRAME,
    FRAME_SECONDS,
    CaptionWindow,
    EnergyDetector,
    SileroDetector,
    SpeechDetector,
    Windower,
    WindowPolicy,
)

log = logging.getLogger("causerie.transcripts")

__all__ = [
    "FRAME", "FRAME_SECONDS", "CaptionLine", "CaptionMessage", "CaptionService",
    "CaptionSettings", "CaptionStream", "CaptionWhisper", "CaptionWindow", "CaptionsBehind",
    "EnergyDetector", "SileroDetector", "SpeechDetector", "WindowPolicy", "Windower",
    "caption_prompt", "encoder_frames", "is_prompt_echo", "squash_repeats",
]


@dataclass(frozen=True)
class CaptionSettings:
    """How live captions are made (figures behind each choice: bench/README.md)."""

    # Greedy decoding: beam 5 costs several times more per window for no gain here.
    beam_size: int = 1
    # Threads of the caption model, and its worker process's niceness: the media's (a late
    # caption is useless), well above the final transcript's (`runtime.JOBS_NICE`).
    cpu_threads: int = 2
    nice: int = 0
    # faster-whisper pads every window with silence to 30 s before Whisper's encoder, which
    # costs most of a short window's time (and grows with the padding, not the speech). A
    # number: the encoder sees the window plus this many seconds of padding (rounded up to
    # a second); None: the library's 30 s.
    encoder_pad: float | None = 1.0
    policy: WindowPolicy = field(default_factory=lambda: WindowPolicy(
        max_window=9.5, interim_every=2.0))
    # A final that waited longer than this is dropped (counted; the page says so).
    max_wait: float = 6.0


def caption_prompt(title: str, glossary: str = "", max_chars: int = 200) -> str | None:
    """The prompt for caption windows: the café's terms as a glossary line.

    Not the café's title as a sentence: on a short window whose start is hard to hear,
    Whisper tends to "hear" the prompt's first sentence (seen: a phrase captioned as the
    café's title)."""
    words = ", ".join(glossary_terms(glossary)) or title.strip()
    if not words:
        return None
    text = f"Glossaire : {words}"
    return (text[:max_chars].rsplit(" ", 1)[0] if len(text) > max_chars else text) + "."


def _words(text: str) -> str:
    return " ".join(word_tokens(text))


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


class CaptionWhisper:
    """faster-whisper set up for caption windows (the `Transcriber` seam, in the caption
    worker process): one short window, no timestamps, one temperature, the encoder on the
    window and `encoder_pad` seconds (see `CaptionSettings`). The model loads on first use."""

    def __init__(self, settings: WhisperSettings, encoder_pad: float | None) -> None:
        self.settings = settings
        self.encoder_pad = encoder_pad
        self._model: Any = None

    def transcribe(self, audio: Audio | str, options: TranscribeOptions,
                   progress: ProgressFn | None = None) -> list[Segment]:
        if self._model is None:
            self._model = _short_context_model(self.settings)
        self._model.encoder_frames = (
            None if isinstance(audio, str) else encoder_frames(len(audio), self.encoder_pad))
        segments, _ = self._model.transcribe(
            audio, language=options.language, beam_size=options.beam_size or 1,
            initial_prompt=options.prompt or None, condition_on_previous_text=False,
            temperature=0.0, without_timestamps=True, word_timestamps=False,
            max_new_tokens=min(200, options.max_new_tokens) if options.max_new_tokens
            else None)
        return [Segment(0.0, float(seg.end), "", seg.text.strip())
                for seg in segments if seg.text.strip()]


def encoder_frames(samples: int, pad: float | None) -> int | None:
    """Mel frames (100 a second) of a window of `samples` the encoder is given: the window
    and `pad` seconds, rounded up to a whole second, at most Whisper's 30 s (None: all)."""
    if pad is None:
        return None
    return min(3000, 100 * math.ceil(samples / SAMPLE_RATE + pad))


def _short_context_model(s: WhisperSettings) -> Any:
    from faster_whisper import WhisperModel

    class ShortContextWhisper(WhisperModel):  # type: ignore[misc]
        """`encode` sees the first `encoder_frames` mel frames (100 a second) of the 3000
        faster-whisper padded the window to: the rest is silence it added."""

        encoder_frames: int | None = None

        def encode(self, features: npt.NDArray[np.float32]) -> Any:
            if self.encoder_frames is not None:
                features = features[..., : self.encoder_frames]
            return super().encode(features)

    return ShortContextWhisper(s.model, device=s.device, compute_type=s.compute_type,
                               cpu_threads=s.cpu_threads, num_workers=1,
                               local_files_only=os.path.isdir(s.model))


@dataclass(frozen=True)
class CaptionWhisperFactory:
    """A picklable factory for the caption worker process."""

    settings: WhisperSettings
    encoder_pad: float | None = None

    def __call__(self) -> CaptionWhisper:
        return CaptionWhisper(self.settings, self.encoder_pad)


EmitFn = Callable[[CaptionMessage], Awaitable[None]]


@dataclass
class CaptionStream:
    """One speaker's caption feed; `push` is cheap and synchronous (called from the tap)."""

    service: CaptionService
    cafe_id: int
    stream: int
    windower: Windower

    def push(self, pcm: npt.NDArray[np.int16] | npt.NDArray[np.float32],
             timestamp: float) -> None:
        for window in self.windower.push(pcm, timestamp):
            self.service.submit(self.cafe_id, self.stream, window)

    def close(self) -> None:
        for window in self.windower.flush():
            self.service.submit(self.cafe_id, self.stream, window)


class CaptionService:
    """Transcribes caption windows off the loop, one at a time, finals first."""

    def __init__(self, pool: TranscriberPool, emit: EmitFn, *,
                 detector_factory: Callable[[], SpeechDetector] | None = None,
                 settings: CaptionSettings | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.pool = pool
        self.emit = emit
        self.settings = settings or CaptionSettings()
        self._detector_factory = detector_factory or _default_detector
        self._clock = clock
        self._queue = CaptionQueue(self.settings.max_wait)
        self._lines = CaptionLines()
        self._wake = asyncio.Event()
        self._closing = False
        self._streams = 0
        self._prompts: dict[int, tuple[str, str | None]] = {}
        self._task: asyncio.Task[None] | None = None
        # Latency samples of finals: emitted-at minus the phrase's last speech (this clock).
        self.latencies: list[float] = []
        self.dropped = 0
        self.echoes = 0
        self.interims = 0
        self._busy = False

    def configure_cafe(self, cafe_id: int, language: str = "fr",
                       prompt: str | None = None) -> None:
        self._prompts[cafe_id] = (language, prompt)

    def open(self, cafe_id: int, speaker: str) -> CaptionStream:
        self._streams += 1
        return CaptionStream(self, cafe_id, self._streams, Windower(
            speaker, self._detector_factory(), self.settings.policy))

    def submit(self, cafe_id: int, stream: int, window: CaptionWindow) -> None:
        if self._task is None or self._task.done():
            self._closing = False
            self._task = asyncio.get_running_loop().create_task(self._run())
        self._queue.add(Pending(cafe_id, stream, window, self._clock()))
        self._wake.set()

    async def _run(self) -> None:
        while True:
            job, dropped = self._queue.take(self._clock())
            for stale in dropped:
                await self._drop(stale)
            if job is None:
                if self._closing:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            self._busy = True
            try:
                await self._caption(job)
            finally:
                self._busy = False

    async def _drop(self, job: Pending) -> None:
        self.dropped += 1
        message = self._lines.behind(job, self._clock())
        log.warning("caption dropped cafe=%s speaker=%s waited=%.1fs", job.cafe_id,
                    job.window.speaker, message.waited)
        await self._send(message)

    async def _caption(self, job: Pending) -> None:
        language, prompt = self._prompts.get(job.cafe_id, ("fr", None))
        seconds = len(job.window.audio) / SAMPLE_RATE
        try:
            segments = await self.pool.transcribe(job.window.audio, TranscribeOptions(
                language=language, prompt=prompt, word_timestamps=False,
                beam_size=self.settings.beam_size,
                max_new_tokens=int(TOKENS_PER_SECOND * seconds) + 10))
        except Exception:
            log.exception("caption failed cafe=%s speaker=%s", job.cafe_id,
                          job.window.speaker)
            segments = []
        text = squash_repeats(" ".join(s.text for s in segments).strip())
        if text and is_prompt_echo(text, prompt):
            self.echoes += 1
            log.info("caption dropped (prompt echo) cafe=%s speaker=%s", job.cafe_id,
                     job.window.speaker)
            text = ""
        message = self._lines.caption(job, text)
        if message is None:
            return
        if not job.window.final:
            self.interims += 1
        await self._send(message)
        if job.window.final:
            # Wait from the end of the phrase: the window closed min_silence after it.
            self.latencies.append(self._clock() - job.queued_at
                                  + (job.window.end - job.window.speech_end))

    async def _send(self, message: CaptionMessage) -> None:
        try:
            await self.emit(message)
        except Exception:
            log.exception("caption emit failed cafe=%s", message.cafe_id)

    def idle(self) -> bool:
        """True when no window waits or is being transcribed."""
        return len(self._queue) == 0 and not self._busy

    async def aclose(self) -> None:
        """Finish what is queued (stale finals are dropped), then stop."""
        if self._task is not None and not self._task.done():
            self._closing = True
            self._wake.set()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._task = None


def _default_detector() -> SpeechDetector:
    try:
        return SileroDetector()
    except Exception:  # onnxruntime missing: a loudness gate still captions
        log.warning("silero VAD unavailable, captions use an energy gate")
        return EnergyDetector()
