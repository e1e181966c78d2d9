"""The Whisper engine: a `Transcriber` seam, faster-whisper behind it, and an off-loop pool.

`Transcriber.transcribe` is blocking and CPU-bound. Nothing here runs it on the event loop:
`TranscriberPool` owns one worker process (spawned, niced below the live media, the model
loaded once in it) or, for tests and fakes, one thread. Segments come back with times
relative to the audio given; callers place them in café time (`Segment.placed`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import multiprocessing
import os
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import numpy.typing as npt

from transcripts.settings import WhisperSettings

if TYPE_CHECKING:
    from multiprocessing.queues import Queue as MPQueue

    from transcripts.parts import PartResult, SpeechDetector

log = logging.getLogger("causerie.transcripts")

SAMPLE_RATE = 16_000
Audio = npt.NDArray[np.float32]
# (start, end, word, probability), seconds relative to the segment's audio origin.
Word = tuple[float, float, str, float]
ProgressFn = Callable[[float], None]


@dataclass(frozen=True, slots=True)
class Segment:
    start: float
    end: float
    speaker: str
    text: str
    words: tuple[Word, ...] = ()
    # The temperature Whisper decoded it at (above 0: a fallback); not stored, not placed.
    temperature: float = 0.0
    # The tokens Whisper decoded for it (the cost of its decode); not stored, not placed.
    tokens: int = 0

    def placed(self, offset: float, speaker: str | None = None) -> Segment:
        """The same segment shifted by `offset` seconds (a recording's café offset)."""
        return Segment(
            start=round(self.start + offset, 3),
            end=round(self.end + offset, 3),
            speaker=self.speaker if speaker is None else speaker,
            text=self.text,
            words=tuple(
                (round(s + offset, 3), round(e + offset, 3), w, p) for s, e, w, p in self.words
            ),
        )


@dataclass(frozen=True)
class TranscribeOptions:
    language: str = "fr"
    # Café vocabulary: `prompt` is Whisper's initial_prompt (first 30 s window only when
    # previous text is not conditioned on); `hotwords` is re-sent with every window.
    prompt: str | None = None
    hotwords: str | None = None
    word_timestamps: bool = True
    # Long files: no conditioning on previous text, bounded temperature retries, VAD skip
    # of silences (see DESIGN pitfalls: repetition loops, 3x slower retries).
    long_form: bool = False
    beam_size: int | None = None  # None: the engine's configured beam size
    # A bound on the tokens decoded per 30 s window (captions: a repetition loop on hard
    # audio then costs a fraction of a second, not seconds). At most 200 (the prompt may
    # take 224 of Whisper's 448).
    max_new_tokens: int | None = None
    # Overrides of the long_form choices (transcripts.parts transcribes chunks it already
    # cut by voice activity, with its own bounded temperature schedule).
    vad_filter: bool | None = None
    temperature: tuple[float, ...] | None = None
    # The audio is speech (a chunk voice activity detection found): never skip a window as
    # silence (no_speech_threshold) nor drop words as a hallucination over silence; on a
    # noisy floor both threw real speech away.
    speech_only: bool = False
    # Below this average log-probability a window is decoded again at the next temperature
    # (faster-whisper's default -1.0); None: only a repetition (compression ratio) does.
    log_prob_threshold: float | None = -1.0
    # Conditioning on previous text; None: not for long_form. Without it (and without a
    # prompt) a window may decode up to `FREE_TOKENS` new tokens, else 200.
    condition: bool | None = None
    # Candidates sampled at a fallback temperature (faster-whisper's default 5: a loop that
    # falls back costs five decodes of up to the token bound each).
    best_of: int = 5
    # The seconds this decode may take, by `clock` (None: time.perf_counter): no further
    # 30 s window is decoded once the time left is less than the longest one took. A
    # looping chunk is decoded window after window (each stop at a timestamp seeks there
    # and decodes again), each up to its token bound, so a bound on tokens alone let a part
    # overrun its time budget (0.52-0.59 x against 0.5).
    time_limit: float | None = None
    clock: Callable[[], float] | None = None


# Whisper decodes at most 448 tokens, prompt included: faster-whisper keeps up to 223 of
# previous text or prompt, so 200 new ones fit whatever the prompt; with neither, 400 do.
PROMPT_TOKENS = 200
FREE_TOKENS = 400


def word_tokens(text: str) -> list[str]:
    """The words of a text to compare with others: lower case, letters and digits only
    (a caption against its prompt, a segment against the café's words)."""
    return "".join(c if c.isalnum() else " " for c in text.lower()).split()


def glossary_terms(glossary: str) -> list[str]:
    """The terms of a café's word list: one per line, or separated by commas or
    semicolons, stripped, empty ones left out."""
    terms = (t.strip() for t in glossary.replace(";", "\n").replace(",", "\n").splitlines())
    return [t for t in terms if t]


def cafe_vocabulary(title: str, description: str = "", glossary: str = "",
                    max_chars: int = 400, language: str = "fr") -> str:
    """The café's words for the decoder: the glossary's terms, then the distinct content
    words of the title and the description, as a comma-separated list.

    A list of terms, not the title as a sentence: on damaged audio Whisper copies a
    sentence-like prompt into the transcript (the title repeated over a whole segment),
    while a list only biases the spelling of words that are really spoken."""
    from transcripts.search_query import normalize, stop_words

    stop = stop_words(language)

    terms: list[str] = []
    seen: set[str] = set()

    def add(term: str) -> None:
        key = normalize(term)
        if key and key not in seen:
            seen.add(key)
            terms.append(term)

    for term in glossary_terms(glossary):
        add(term)
    for text in (title, description):
        for word in re.findall(r"[^\W\d_][\w'’-]*", text):
            word = re.split("['’]", word)[-1].strip("-")  # l'école -> école
            if len(word) >= 4 and normalize(word) not in stop:
                add(word)
    out = ""
    for term in terms:
        candidate = f"{out}, {term}" if out else term
        if len(candidate) > max_chars:
            break
        out = candidate
    return out


class Transcriber(Protocol):
    """The seam: blocking; called from a worker thread or process, never from the loop."""

    def transcribe(self, audio: Audio | str, options: TranscribeOptions,
                   progress: ProgressFn | None = None) -> list[Segment]: ...


class WhisperTranscriber:
    """faster-whisper behind the `Transcriber` seam. The model loads on first use."""

    def __init__(self, settings: WhisperSettings) -> None:
        self.settings = settings
        self._model: Any = None
        self._lock = threading.Lock()

    def load(self) -> Any:
        with self._lock:
            if self._model is None:
                from faster_whisper import WhisperModel

                s = self.settings
                self._model = WhisperModel(
                    s.model, device=s.device, compute_type=s.compute_type,
                    cpu_threads=s.cpu_threads, num_workers=1,
                    local_files_only=os.path.isdir(s.model),
                )
                log.info("whisper model loaded model=%s device=%s compute=%s threads=%d",
                         s.model, s.device, s.compute_type, s.cpu_threads)
            return self._model

    def transcribe(self, audio: Audio | str, options: TranscribeOptions,
                   progress: ProgressFn | None = None) -> list[Segment]:
        model = self.load()
        long_form = options.long_form
        condition = not long_form if options.condition is None else options.condition
        cap = (PROMPT_TOKENS if condition or options.prompt or options.hotwords
               else FREE_TOKENS)
        segments, info = model.transcribe(
            audio,
            language=options.language,
            beam_size=options.beam_size or self.settings.beam_size,
            word_timestamps=options.word_timestamps,
            initial_prompt=options.prompt or None,
            hotwords=options.hotwords or None,
            condition_on_previous_text=condition,
            best_of=options.best_of,
            # Bounded retries: a repetition loop costs at most two more decodes.
            temperature=options.temperature or ((0.0, 0.4, 0.8) if long_form else (0.0,)),
            vad_filter=long_form if options.vad_filter is None else options.vad_filter,
            hallucination_silence_threshold=2.0 if long_form and options.word_timestamps
            and not options.speech_only else None,
            no_speech_threshold=None if options.speech_only else 0.6,
            log_prob_threshold=options.log_prob_threshold,
            max_new_tokens=min(cap, options.max_new_tokens) if options.max_new_tokens
            else None,
        )
        duration = float(info.duration) or 1.0
        out: list[Segment] = []
        clock = options.clock or time.perf_counter
        began = last = clock()
        window = 0.0  # the longest wait for a segment: one window's decode
        for seg in segments:
            now = clock()
            window, last = max(window, now - last), now
            text = seg.text.strip()
            if text:
                words = tuple(
                    (round(float(w.start), 3), round(float(w.end), 3), str(w.word),
                     round(float(w.probability), 3))
                    for w in (seg.words or ())
                )
                out.append(Segment(round(float(seg.start), 3), round(float(seg.end), 3),
                                   "", text, words, float(seg.temperature or 0.0),
                                   len(seg.tokens or ())))
            if progress is not None:
                progress(min(1.0, float(seg.end) / duration))
            # A window cannot be interrupted: stop before one that may not end in time. The
            # rest of a window already decoded costs nothing: it is taken first (stopping
            # at its first segment threw away the window's other 20 s on a slow machine).
            if (options.time_limit is not None
                    and clock() - began + window > options.time_limit
                    and not more_in_window(segments)):
                log.info("decode stopped at its time limit limit=%.2fs at=%.1fs of %.1fs",
                         options.time_limit, float(seg.end), duration)
                break  # closing the generator decodes no further window
        if progress is not None:
            progress(1.0)
        return out


def more_in_window(segments: Any) -> bool:
    """Whether faster-whisper's segment generator holds more segments of the window it
    just decoded: it decodes a 30 s window, then yields the window's segments one by one
    from its list `current_segments`; the next window is decoded only when they are all
    taken. False when that cannot be seen (another version, a wrapped generator): the
    caller then stops at once, as before."""
    frame = getattr(segments, "gi_frame", None)
    if frame is None:
        return False
    local = frame.f_locals
    current, segment = local.get("current_segments"), local.get("segment")
    if not isinstance(current, list) or segment is None:
        return False
    index = next((i for i, s in enumerate(current) if s is segment), None)
    return index is not None and index < len(current) - 1


def to_float_audio(pcm: npt.NDArray[np.int16] | Audio) -> Audio:
    if pcm.dtype == np.int16:
        return (pcm.astype(np.float32) / np.float32(32768.0)).astype(np.float32)
    return np.asarray(pcm, dtype=np.float32)


# -- the worker process -----------------------------------------------------------------------
# State of the *worker process* (not of the server): its transcriber and progress channel,
# set once by the pool's initializer.
_worker: dict[str, Any] = {}


def _worker_init(factory: Callable[[], Transcriber], nice: int,
                 progress_queue: MPQueue[tuple[int, float]]) -> None:
    if nice:
        with contextlib.suppress(OSError):  # not permitted: run at the same priority
            os.nice(nice)
    _worker["factory"] = factory
    _worker["progress"] = progress_queue


def _worker_run(task_id: int, audio: Audio | str, options: TranscribeOptions,
                want_progress: bool) -> list[Segment]:
    transcriber = _worker.get("transcriber")
    if transcriber is None:
        transcriber = _worker["transcriber"] = _worker["factory"]()
    q: MPQueue[tuple[int, float]] = _worker["progress"]
    last = [-1.0]

    def report(value: float) -> None:
        if value - last[0] >= 0.01 or value >= 1.0:
            last[0] = value
            q.put((task_id, value))

    result: list[Segment] = transcriber.transcribe(
        audio, options, report if want_progress else None)
    return result


def _worker_run_part(task_id: int, audio: Audio | str, options: TranscribeOptions,
                     detector: SpeechDetector | None, want_progress: bool) -> PartResult:
    transcriber = _worker.get("transcriber")
    if transcriber is None:
        transcriber = _worker["transcriber"] = _worker["factory"]()
    q: MPQueue[tuple[int, float]] = _worker["progress"]
    return _run_part(transcriber, audio, options, detector,
                     (lambda value: q.put((task_id, value))) if want_progress else None)


def _run_part(transcriber: Transcriber, audio: Audio | str, options: TranscribeOptions,
              detector: SpeechDetector | None, progress: ProgressFn | None) -> PartResult:
    from transcripts.parts import Pace, SileroDetector, transcribe_part

    samples = decode_audio(Path(audio)) if isinstance(audio, str) else audio
    load = getattr(transcriber, "load", None)
    if callable(load):  # the model's first load is not the part's cost (its time budget)
        load()
    # The pace this worker last saw (one transcriber per worker process or pool thread).
    pace = _paces.setdefault(id(transcriber), Pace())
    return transcribe_part(transcriber, samples, options, detector or SileroDetector(),
                           progress, pace=pace)


# The pace each transcriber last saw (transcripts.parts.Pace), by transcriber: state of the
# worker that runs it, like `_worker`.
_paces: dict[int, Any] = {}


@dataclass(frozen=True)
class WhisperFactory:
    """A picklable factory for the worker process."""

    settings: WhisperSettings

    def __call__(self) -> Transcriber:
        return WhisperTranscriber(self.settings)


@dataclass
class TranscriberPool:
    """Runs a `Transcriber` off the event loop, one task at a time.

    processes=True (default): one spawned worker process at `nice` (lower priority than the
    live media), the model loaded once there; a crash of that process fails the task with
    `BrokenProcessPool` and the pool restarts on the next call. processes=False: one thread
    (fakes in tests; a caller that already runs in a worker process).
    """

    factory: Callable[[], Transcriber]
    processes: bool = True
    nice: int = 10
    _executor: concurrent.futures.Executor | None = field(default=None, init=False)
    _thread_transcriber: Transcriber | None = field(default=None, init=False)
    _progress_q: Any = field(default=None, init=False)
    _reader: threading.Thread | None = field(default=None, init=False)
    _callbacks: dict[int, tuple[asyncio.AbstractEventLoop, ProgressFn]] = field(
        default_factory=dict, init=False)
    _next_id: int = field(default=0, init=False)

    def _ensure(self) -> concurrent.futures.Executor:
        if self._executor is None:
            if self.processes:
                ctx = multiprocessing.get_context("spawn")
                self._progress_q = ctx.Queue()
                self._executor = concurrent.futures.ProcessPoolExecutor(
                    max_workers=1, mp_context=ctx, initializer=_worker_init,
                    initargs=(self.factory, self.nice, self._progress_q))
                self._reader = threading.Thread(target=self._read_progress,
                                                name="whisper-progress", daemon=True)
                self._reader.start()
            else:
                self._executor = concurrent.futures.ThreadPoolExecutor(
                    max_workers=1, thread_name_prefix="whisper")
        return self._executor

    def _read_progress(self) -> None:
        q = self._progress_q
        while True:
            try:
                item = q.get()
            except (EOFError, OSError, ValueError):
                return
            if item is None:
                return
            task_id, value = item
            target = self._callbacks.get(task_id)
            if target is not None:
                loop, fn = target
                loop.call_soon_threadsafe(fn, value)

    def _thread_run(self, audio: Audio | str, options: TranscribeOptions,
                    progress: ProgressFn | None) -> list[Segment]:
        if self._thread_transcriber is None:
            self._thread_transcriber = self.factory()
        return self._thread_transcriber.transcribe(audio, options, progress)

    async def transcribe(self, audio: Audio | str, options: TranscribeOptions,
                         progress: ProgressFn | None = None) -> list[Segment]:
        loop = asyncio.get_running_loop()
        executor = self._ensure()
        if not self.processes:
            def threadsafe(value: float) -> None:
                if progress is not None:
                    loop.call_soon_threadsafe(progress, value)
            return await loop.run_in_executor(
                executor, self._thread_run, audio, options,
                threadsafe if progress is not None else None)
        self._next_id += 1
        task_id = self._next_id
        if progress is not None:
            self._callbacks[task_id] = (loop, progress)
        try:
            return await loop.run_in_executor(
                executor, _worker_run, task_id, audio, options, progress is not None)
        except concurrent.futures.process.BrokenProcessPool:
            self._shutdown(wait=False)
            raise
        finally:
            self._callbacks.pop(task_id, None)

    async def transcribe_part(self, audio: Audio | str, options: TranscribeOptions,
                              progress: ProgressFn | None = None,
                              detector: SpeechDetector | None = None) -> PartResult:
        """A recorded part, chunked by voice activity and checked against its own audio
        (`transcripts.parts`); `detector` None: Silero, in the worker."""
        loop = asyncio.get_running_loop()
        executor = self._ensure()
        if not self.processes:
            def threadsafe(value: float) -> None:
                if progress is not None:
                    loop.call_soon_threadsafe(progress, value)

            def run() -> PartResult:
                if self._thread_transcriber is None:
                    self._thread_transcriber = self.factory()
                return _run_part(self._thread_transcriber, audio, options, detector,
                                 threadsafe if progress is not None else None)
            return await loop.run_in_executor(executor, run)
        self._next_id += 1
        task_id = self._next_id
        if progress is not None:
            self._callbacks[task_id] = (loop, progress)
        try:
            return await loop.run_in_executor(
                executor, _worker_run_part, task_id, audio, options, detector,
                progress is not None)
        except concurrent.futures.process.BrokenProcessPool:
            self._shutdown(wait=False)
            raise
        finally:
            self._callbacks.pop(task_id, None)

    async def warm_up(self) -> None:
        """Load the model now (a second of silence), so the first caption is not late."""
        await self.transcribe(np.zeros(SAMPLE_RATE, dtype=np.float32),
                              TranscribeOptions(word_timestamps=False, beam_size=1))

    def _shutdown(self, wait: bool) -> None:
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=wait, cancel_futures=True)
        if self._progress_q is not None:
            with contextlib.suppress(OSError, ValueError):
                self._progress_q.put(None)
            self._progress_q = None
        if self._reader is not None:
            self._reader.join(timeout=2)
            self._reader = None

    async def aclose(self) -> None:
        await asyncio.to_thread(self._shutdown, True)


# -- audio files ------------------------------------------------------------------------------

MAX_FILE_BYTES = 2 * 1024**3
MAX_FILE_SECONDS = 6 * 3600.0


def probe_audio(path: Path, max_bytes: int = MAX_FILE_BYTES,
                max_seconds: float = MAX_FILE_SECONDS) -> float:
    """Check that `path` is a readable audio file within bounds; return its duration (s).

    Raises `InvalidAudio` for a missing, empty, oversized, non-audio or too long file.
    Recordings cut by a crash have no duration in their header: those are decoded to count.
    """
    import av

    from transcripts.errors import InvalidAudio

    if not path.is_file():
        raise InvalidAudio("No such audio file: %(path)s.", path=str(path))
    size = path.stat().st_size
    if size == 0:
        raise InvalidAudio("The audio file %(path)s is empty.", path=str(path))
    if size > max_bytes:
        raise InvalidAudio("The audio file %(path)s is too large (%(size)s bytes, at most "
                           "%(max)s).", path=str(path), size=size, max=max_bytes)
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise InvalidAudio("%(path)s has no audio stream.", path=str(path))
            stream = container.streams.audio[0]
            if container.duration is not None and container.duration > 0:
                duration = container.duration / 1_000_000
            elif stream.duration is not None and stream.time_base is not None:
                duration = float(stream.duration * stream.time_base)
            else:
                duration = 0.0
                for frame in container.decode(stream):
                    duration += frame.samples / (frame.sample_rate or SAMPLE_RATE)
    except InvalidAudio:
        raise
    except (av.error.FFmpegError, ValueError, UnicodeDecodeError) as exc:
        raise InvalidAudio("%(path)s is not a readable audio file (%(reason)s).",
                           path=str(path), reason=str(exc)[:200]) from None
    if duration > max_seconds:
        raise InvalidAudio("The audio file %(path)s is too long (%(seconds)s s, at most "
                           "%(max)s s).", path=str(path), seconds=round(duration),
                           max=round(max_seconds))
    return duration


def decode_audio(path: Path) -> Audio:
    """Decode any audio file PyAV reads into 16 kHz mono float32 (tolerates a cut tail)."""
    import av

    chunks: list[npt.NDArray[np.float32]] = []
    resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        try:
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray().reshape(-1).astype(np.float32))
        except av.error.FFmpegError as exc:  # a truncated last page after a crash
            log.warning("audio decode stopped early path=%s error=%s", path, exc)
        for out in resampler.resample(None):
            chunks.append(out.to_ndarray().reshape(-1).astype(np.float32))
    if not chunks:
        return np.zeros(0, dtype=np.float32)
    return np.concatenate(chunks)


def speech_ratio(audio: Audio, frame: int = 512, threshold_db: float = -45.0) -> float:
    """The share of frames louder than `threshold_db` dBFS (a cheap "only silence" test)."""
    n = len(audio) // frame
    if n == 0:
        return 0.0
    frames = audio[: n * frame].reshape(n, frame)
    rms = np.sqrt(np.mean(frames.astype(np.float64) ** 2, axis=1)) + 1e-12
    return float(np.mean(20 * np.log10(rms) > threshold_db))


def placed_all(segments: Iterable[Segment], offset: float, speaker: str) -> list[Segment]:
    return [s.placed(offset, speaker) for s in segments]


__all__ = [
    "SAMPLE_RATE", "Audio", "ProgressFn", "Segment", "TranscribeOptions", "Transcriber",
    "TranscriberPool", "WhisperFactory", "WhisperSettings", "WhisperTranscriber", "Word",
    "cafe_vocabulary", "decode_audio", "glossary_terms", "placed_all", "probe_audio",
    "speech_ratio", "to_float_audio", "word_tokens",
]
