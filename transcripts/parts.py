"""One recorded part, transcribed and checked against its own audio.

A part is cut into chunks of speech (voice activity, at most one Whisper window each), and
each chunk is transcribed on its own: a chunk Whisper gets wrong cannot take the next one
with it (no conditioning on previous text), and each chunk's result is checked against the
speech it holds, by the seconds its words cover. A chunk with speech and too little text
(or one that echoes the café's words) is transcribed again with safer settings: no café
words, no prompt, a short temperature schedule. What still falls short is reported, so the
organiser sees it before publishing (`PartReport.short`).

Cost is bounded: the tokens decoded per chunk are capped in proportion to its length (a
repetition loop stops there), the temperature schedule is short, repeated phrases are cut
(and counted), and a time budget (`Budget`) turns retries off and beam search down when the
part runs late (a loaded machine), so a part never takes more than `rtf` times its length.

`transcribe_part` runs where the model is (the worker process); it only uses the
`Transcriber` seam and a `SpeechDetector`, both faked in unit tests.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from transcripts.engine import (
    SAMPLE_RATE,
    Audio,
    ProgressFn,
    Segment,
    TranscribeOptions,
    Transcriber,
    word_tokens,
)

Span = tuple[float, float]

# A chunk is at most one Whisper window (30 s), padded on both sides: each chunk costs one
# encoder pass, and a whole window of context decoded French better than halves did.
# 29.8 s, not 28: the bound of 28 cut the speech set's 29.8 s files in two (a 3 s chunk
# decoded on its own, English WER up to 0.1 worse). The pads stay tight: framed as the
# plain call frames its audio (0.4 s before, its trailing silence kept), French looped
# over the trailing room noise (docs/transcription.md, "Framing the chunks").
CHUNK_MAX = 29.8
SPEECH_MAX = 28.0
CHUNK_PAD = 0.25
# A chunk whose words cover less than this share of its speech is transcribed again; so
# is a stretch of this many seconds of speech without words, whatever the share: a chunk
# 87 % covered had lost a whole sentence (English telephone audio, café words as hotwords).
RETRY_BELOW = 0.75
RETRY_GAP = 1.0
# A part whose words cover less than this share of its speech is marked short.
SHORT_BELOW = 0.85
# Words closer than this are one stretch of text; each word counts this much either side.
WORD_JOIN = 0.5
WORD_PAD = 0.25
# The tokens one chunk may decode: ~4-6 per spoken second in French and English; 12 per
# second of audio leaves room for fast speech and punctuation, and stops a loop early.
TOKENS_PER_SECOND = 12
MIN_TOKENS = 40
MAX_TOKENS = 200  # Whisper's limit with a prompt is 224 of 448
# Without a prompt nor conditioning (the plain first pass): a fast French speaker fills a
# 28 s window with ~200 tokens, and a bound of 200 cut it (a second decode of the rest).
FREE_MAX_TOKENS = 400
# First pass: beam search, then two low temperatures when it repeats itself or is unsure
# (faster-whisper goes up to 1.0 in six steps: the loops of the issue). Without the
# log-probability test, noisy French came out invented (bench: WER 1.35 against 0.81).
FIRST_TEMPERATURES = (0.0, 0.2, 0.4)
FIRST_LOGPROB: float | None = -1.0
SAFE_TEMPERATURES = (0.0, 0.3, 0.6)
# One candidate per fallback temperature (faster-whisper samples 5): a decoding loop that
# falls back twice costs beam search plus two single samples, not beam search plus ten.
FALLBACK_BEST_OF = 1
RTF_LIMIT = 0.5
# The share of `RTF_LIMIT` the budget plans with: each decode's cost is an estimate (the
# pace measured on the last ones), and a loaded machine's speed moves between two decodes;
# the rest is the slack that keeps the real figure under the limit (measured: 0.52 x with
# no slack at nice 19 on a loaded machine, 0.53 x with 0.9 and no per-decode overhead).
BUDGET_SHARE = 0.8
# What each decode (each temperature of a schedule) costs besides its tokens, in tokens:
# its prompt, the word timings' alignment pass. A retry through three temperatures whose
# bound left this out took a part to 0.53 x real time (noisy French, 2026-12-02).
DECODE_OVERHEAD = 20
# Below this many tokens a decode is not worth its encoder pass: with no more time left in
# the part's budget, the chunk (or stretch) is left out and the part marked short.
MIN_DECODE = 20
# Tokens an ordinary decode gives per second of audio (French and English speech, ~4-6):
# the least a decode is expected to cost, in tokens, whatever it finds.
ORDINARY_TOKENS = 5
# The tokens a chunk's first decode may always take, per second, whatever the time left:
# fast French (185 words a minute) with its punctuation and timestamps. Speech is not left
# out for want of time; past this, a decode is a loop, and that is what the bound cuts.
FLOOR_TOKENS = 7
# How much of its beam-search pace a worker keeps after a part decoded all greedily.
PACE_DECAY = 0.8


@dataclass(frozen=True)
class FirstPass:
    """How each chunk is decoded the first time (the check and the retry come after).

    `vad_filter`: faster-whisper's own voice activity filter on the chunk (its silences are
    dropped before decoding, as the plain call does); `speech_only`: never skip a window as
    silence nor drop words as a hallucination over silence; `bound_tokens`: at most
    `token_bound(length)` tokens per window."""

    name: str
    vad_filter: bool
    speech_only: bool
    bound_tokens: bool
    temperatures: tuple[float, ...] = FIRST_TEMPERATURES
    log_prob: float | None = FIRST_LOGPROB
    best_of: int = FALLBACK_BEST_OF


# The chunk as cut, all of it decoded, no window skipped, tokens bounded.
CHUNKED = FirstPass("chunked", vad_filter=False, speech_only=True, bound_tokens=True)
# The plain call's own decoding on each chunk (its VAD, its no-speech skip, no token bound),
# with the short temperature schedule: where the plain call does well the product does the
# same; where it loses speech, the check below finds it and the retry gets it back.
PLAIN = FirstPass("plain", vad_filter=True, speech_only=False, bound_tokens=True)
# The chunked pass without fallback: a loop is taken as it is (its repeats cut), and the
# check retries what it lost, in smaller pieces.
CHUNKED_T0 = FirstPass("chunked-t0", vad_filter=False, speech_only=True, bound_tokens=True,
                       temperatures=(0.0,))
# faster-whisper's own defaults on each chunk (its VAD and no-speech skip, six temperatures,
# five samples each, no token bound): the plain call, checked and retried.
DEFAULTS = FirstPass("defaults", vad_filter=True, speech_only=False, bound_tokens=False,
                     temperatures=(0.0, 0.2, 0.4, 0.6, 0.8, 1.0), best_of=5)
# The plain call's decoding at temperature 0 only (its VAD and no-speech skip, tokens bound).
PLAIN_T0 = FirstPass("plain-t0", vad_filter=True, speech_only=False, bound_tokens=True,
                     temperatures=(0.0,))
FIRST_PASSES = {p.name: p for p in (CHUNKED, PLAIN, CHUNKED_T0, DEFAULTS, PLAIN_T0)}
# bench/transcription.py --first chunked,chunked-t0 (docs/transcription.md): the same text
# wherever no chunk fell back; on the looping telephone French 0.60 x real time against
# 1.36 and WER 0.84 against 1.01 (both marked short).
FIRST_PASS = CHUNKED_T0


class SpeechDetector(Protocol):
    """Where a part has speech: (start, end) seconds; blocking, run beside the model."""

    def speech(self, audio: Audio) -> list[Span]: ...


@dataclass(frozen=True)
class SileroDetector:
    """faster-whisper's Silero VAD (ships in the package; ~1 % of real time on CPU)."""

    threshold: float = 0.5
    min_silence_ms: int = 300
    pad_ms: int = 100

    def speech(self, audio: Audio) -> list[Span]:
        from faster_whisper.vad import VadOptions, get_speech_timestamps

        if len(audio) == 0:
            return []
        found = get_speech_timestamps(audio, VadOptions(
            threshold=self.threshold, min_silence_duration_ms=self.min_silence_ms,
            speech_pad_ms=self.pad_ms, max_speech_duration_s=SPEECH_MAX))
        return [(t["start"] / SAMPLE_RATE, t["end"] / SAMPLE_RATE) for t in found]


@dataclass(frozen=True)
class PartReport:
    """What a part's check found; stored with its job and shown on the admin page."""

    audio_seconds: float
    speech_seconds: float
    covered_seconds: float
    chunks: int = 0
    retried: int = 0  # chunks transcribed again with the safe settings
    fallbacks: int = 0  # chunks whose decoding went above temperature 0
    repetitions_cut: int = 0  # repeated phrases removed
    degraded: int = 0  # chunks decoded cheaper because the part ran late
    seconds: float = 0.0  # wall time

    @property
    def coverage(self) -> float:
        return self.covered_seconds / self.speech_seconds if self.speech_seconds else 1.0

    @property
    def short(self) -> bool:
        """Speech with too little text, even after the retry."""
        return self.speech_seconds >= 1.0 and self.coverage < SHORT_BELOW

    @property
    def rtf(self) -> float:
        return self.seconds / self.audio_seconds if self.audio_seconds else 0.0


@dataclass(frozen=True)
class PartResult:
    segments: list[Segment]
    report: PartReport


# -- pure helpers ---------------------------------------------------------------------------

def merge(spans: Sequence[Span], gap: float = 0.0) -> list[Span]:
    out: list[Span] = []
    for start, end in sorted(spans):
        if out and start <= out[-1][1] + gap:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def overlap(a: Sequence[Span], b: Sequence[Span]) -> float:
    """Seconds of `a` inside `b` (both merged, non-overlapping lists)."""
    total, j = 0.0, 0
    for s1, e1 in a:
        while j < len(b) and b[j][1] <= s1:
            j += 1
        k = j
        while k < len(b) and b[k][0] < e1:
            total += max(0.0, min(e1, b[k][1]) - max(s1, b[k][0]))
            k += 1
    return total


def subtract(a: Sequence[Span], b: Sequence[Span]) -> list[Span]:
    """The parts of spans `a` outside spans `b` (both merged lists)."""
    out: list[Span] = []
    for start, end in a:
        at = start
        for s, e in b:
            if e <= at or s >= end:
                continue
            if s > at:
                out.append((at, s))
            at = max(at, e)
        if at < end:
            out.append((at, end))
    return out


def text_spans(segments: Sequence[Segment]) -> list[Span]:
    """The seconds a transcript's text covers: its words (± WORD_PAD, joined), or the
    segments' own spans when it has no word timings."""
    spans: list[Span] = []
    for seg in segments:
        if seg.words:
            spans += [(max(0.0, s - WORD_PAD), e + WORD_PAD) for s, e, _, _ in seg.words]
        elif seg.text.strip():
            spans.append((seg.start, seg.end))
    return merge(spans, WORD_JOIN)


def plan_chunks(speech: Sequence[Span], duration: float, max_len: float | None = None,
                pad: float = CHUNK_PAD) -> list[Span]:
    """Speech spans grouped into chunks of at most `max_len` s, cut only between spans.

    Each chunk begins `pad` before its first speech and ends up to `pad` after its last
    (as far as the next chunk's start and `max_len` allow): the next chunk keeps its whole
    lead-in, the previous one the rest of the gap, and no audio is heard twice."""
    max_len = max_len or CHUNK_MAX
    groups: list[list[float]] = []  # [chunk start, last speech end]
    for start, end in merge(speech):
        if groups and min(duration, end + pad) - groups[-1][0] <= max_len:
            groups[-1][1] = end
        else:
            begin = max(0.0, start - pad)
            if groups:
                begin = max(begin, groups[-1][1])
            groups.append([begin, end])
    chunks: list[Span] = []
    for i, (begin, end) in enumerate(groups):
        limit = groups[i + 1][0] if i + 1 < len(groups) else duration
        chunks.append((begin, max(min(end, limit), min(end + pad, begin + max_len, limit))))
    return chunks


def token_bound(seconds: float, free: bool = False) -> int:
    """The tokens a window of `seconds` may decode; `free`: no prompt, nothing conditioned."""
    return max(MIN_TOKENS, min(FREE_MAX_TOKENS if free else MAX_TOKENS,
                               int(TOKENS_PER_SECOND * seconds)))


_WORD_RE = re.compile(r"\S+")


def _key(token: str) -> str:
    return "".join(c for c in token.lower() if c.isalnum())


def cut_repetitions(segment: Segment, times: int = 3, max_n: int = 8) -> tuple[Segment, int]:
    """A phrase said `times` or more times in a row (4 for a single word) kept once: the
    shape of a decoding loop. Returns the segment and how many repeats were cut."""
    tokens = ([w[2] for w in segment.words] if segment.words
              else _WORD_RE.findall(segment.text))
    keys = [_key(t) for t in tokens]
    keep = [True] * len(tokens)
    cut = 0
    i = 0
    while i < len(keys):
        best = 0
        for n in range(1, max_n + 1):
            need = 4 if n == 1 else times
            if i + n * need > len(keys) or not any(keys[i:i + n]):
                continue
            reps = 1
            while keys[i + reps * n:i + (reps + 1) * n] == keys[i:i + n]:
                reps += 1
            if reps >= need:
                best = n
                for k in range(i + n, i + reps * n):
                    keep[k] = False
                cut += reps - 1
                i += reps * n
                break
        if not best:
            i += 1
    if not cut:
        return segment, 0
    if segment.words:
        words = tuple(w for w, k in zip(segment.words, keep, strict=True) if k)
        text = "".join(w[2] for w in words).strip()
        return dataclasses.replace(segment, text=text, words=words,
                                   end=words[-1][1] if words else segment.end), cut
    text = " ".join(t for t, k in zip(tokens, keep, strict=True) if k)
    return dataclasses.replace(segment, text=text), cut


def echoes_vocabulary(segments: Sequence[Segment], vocabulary: str) -> bool:
    """True when a segment is mostly the café's own words, or one word said on and on:
    Whisper's echo of its hotwords or prompt on audio it did not make out."""
    vocab = set(word_tokens(vocabulary))
    for segment in segments:
        tokens = word_tokens(segment.text)
        if len(tokens) < 3:
            continue
        if sum(t in vocab for t in tokens) / len(tokens) >= 0.6:
            return True
        run = 1
        for previous, token in itertools.pairwise(tokens):
            run = run + 1 if token == previous else 1
            if run >= 4:
                return True
    return False


def shift(segments: Sequence[Segment], offset: float) -> list[Segment]:
    return [dataclasses.replace(s.placed(offset), temperature=s.temperature) for s in segments]


@dataclass
class Pace:
    """Seconds of work per second of audio last seen by this worker, full and cheap: the
    next part starts from them, so on a loaded machine its first chunk is already cheap."""

    full: float = 0.25
    cheap: float | None = None
    full_token: float = 0.03
    cheap_token: float | None = None


@dataclass
class Budget:
    """The wall time a part may take (`rtf` times its length) and the pace seen so far, to
    choose each chunk's decoding: full (beam search, a retry if needed) while the rest of
    the part still fits at the cheap pace, cheap (greedy, no retry) when it would not."""

    audio_seconds: float
    rtf: float = RTF_LIMIT
    clock: Callable[[], float] = time.perf_counter
    full_pace: float = 0.25  # seconds of work per second of audio (a guess until measured)
    cheap_pace: float | None = None
    # Seconds of work per decoded token (beam search, greedy): what a decode that runs to its
    # token bound (a loop) costs, so the bound itself can be cut to the time left.
    full_token: float = 0.03
    cheap_token: float | None = None
    started: float = 0.0
    measured_full: bool = False  # a beam-search decode set `full_pace` in this part

    def __post_init__(self) -> None:
        self.started = self.clock()

    @property
    def elapsed(self) -> float:
        return self.clock() - self.started

    def _cheap(self) -> float:
        return self.cheap_pace if self.cheap_pace is not None else self.full_pace / 3

    def fits(self, seconds: float, rest: float, factor: float = 1.0) -> bool:
        """Whether `seconds` at the full pace (times `factor`), then `rest` seconds of audio
        at the cheap pace, still fit in what is left."""
        left = self.rtf * BUDGET_SHARE * self.audio_seconds - self.elapsed
        return seconds * self.full_pace * factor + rest * self._cheap() <= left

    def _cheap_token(self, hopeful: bool = False) -> float:
        """Seconds per token decoded greedily (or sampled at a fallback temperature). Until
        measured, a guess: to bound a decode, 0.8 of beam search's (a loaded CPU measured
        0.12 s against 0.16 at nice 19, and a retry through three temperatures that was
        guessed 3 times cheaper took 10 s of a 10 s budget); `hopeful`, to decide whether
        a greedy decode is worth trying at all, as much cheaper as per second of audio."""
        if self.cheap_token is not None:
            return self.cheap_token
        return self.full_token * (self._cheap() / self.full_pace if hopeful else 0.8)

    def tokens(self, seconds: float, rest: float, beam: bool, fallbacks: int = 0,
               best_of: int = 1) -> int:
        """The tokens one decode of `seconds` of audio may take so that, even if it runs to
        that bound and through `fallbacks` more temperatures (`best_of` samples each), the
        rest of the part still fits at the cheap pace: the hard bound on a loop's cost.
        0 when not even an ordinary decode of it (5 tokens a second, the encoder's cost
        included) fits: the caller leaves it out."""
        left = self.rtf * BUDGET_SHARE * self.audio_seconds - self.elapsed - rest * self._cheap()
        least = self.full_token if beam else self._cheap_token(hopeful=True)
        if left < ORDINARY_TOKENS * seconds * least:
            return 0
        one = self.full_token if beam else self._cheap_token()
        fit = int(left / (one + fallbacks * best_of * self._cheap_token()))
        return max(0, fit - DECODE_OVERHEAD * (1 + fallbacks))

    def limited(self, options: TranscribeOptions, rest: float) -> TranscribeOptions:
        """`options` with the time this decode may take: what is left once the rest of the
        part is paid for at the cheap pace. The engine decodes no window past it (a loop is
        decoded window after window, each to its token bound); the window that crosses it
        is what `BUDGET_SHARE` leaves room for."""
        left = self.rtf * BUDGET_SHARE * self.audio_seconds - self.elapsed - rest * self._cheap()
        return dataclasses.replace(options, time_limit=max(0.0, left), clock=self.clock)

    def record_tokens(self, seconds: float, tokens: int, took: float, cheap: bool) -> None:
        """A decode of `seconds` of audio gave `tokens` in `took` s (counted as at least
        `ORDINARY_TOKENS` a second: the encoder's fixed cost is not a token's)."""
        if seconds >= 1.0:
            per = took / max(tokens, ORDINARY_TOKENS * seconds)
            if cheap:
                self.cheap_token = per
            else:
                self.full_token = per

    def record(self, seconds: float, took: float, cheap: bool) -> None:
        if seconds >= 1.0:
            if cheap:
                self.cheap_pace = took / seconds
            else:
                self.full_pace = took / seconds
                self.measured_full = True


# -- the shell around the model -------------------------------------------------------------

def safe_options(options: TranscribeOptions) -> TranscribeOptions:
    """The retry: no café words, no prompt, nothing conditioned, a short schedule, all of
    the audio decoded (no window skipped as silence)."""
    return dataclasses.replace(options, hotwords=None, prompt=None, long_form=True,
                               best_of=FALLBACK_BEST_OF,
                               vad_filter=False, speech_only=True,
                               temperature=SAFE_TEMPERATURES, log_prob_threshold=-1.0)


def transcribe_part(transcriber: Transcriber, audio: Audio, options: TranscribeOptions,
                    detector: SpeechDetector, progress: ProgressFn | None = None,
                    budget: Budget | None = None, pace: Pace | None = None,
                    first: FirstPass | None = None) -> PartResult:
    """Transcribe one part chunk by chunk, check each chunk, retry the short ones."""
    first = first or FIRST_PASS
    duration = len(audio) / SAMPLE_RATE
    if budget is None:
        budget = Budget(duration) if pace is None else Budget(
            duration, full_pace=pace.full, cheap_pace=pace.cheap, full_token=pace.full_token,
            cheap_token=pace.cheap_token)
    speech = merge(detector.speech(audio))
    chunks = plan_chunks(speech, duration)
    out: list[Segment] = []
    retried = fallbacks = cut_total = degraded = 0
    covered = 0.0
    vocabulary = " ".join(filter(None, (options.hotwords, options.prompt)))
    for start, end in chunks:
        piece = audio[int(start * SAMPLE_RATE):int(end * SAMPLE_RATE)]
        length = end - start
        rest = duration - end
        said = [(max(s, start) - start, min(e, end) - start) for s, e in speech
                if e > start and s < end]
        spoken = sum(e - s for s, e in said)
        chunk_opts = dataclasses.replace(
            options, long_form=not first.vad_filter, vad_filter=first.vad_filter,
            condition=False, speech_only=first.speech_only, temperature=first.temperatures,
            best_of=first.best_of,
            log_prob_threshold=first.log_prob,
            max_new_tokens=token_bound(length, free=not (options.prompt or options.hotwords))
            if first.bound_tokens else None)
        cheap = not budget.fits(length, rest)
        bound = chunk_opts.max_new_tokens or FREE_MAX_TOKENS
        if cheap:  # the machine is slow: keep within the budget, decode greedily
            degraded += 1
            chunk_opts = dataclasses.replace(chunk_opts, beam_size=1, temperature=(0.0,))
        # The chunk is always decoded once, as far as ordinary speech goes (a loop stops
        # there); past that, only as far as the time left pays for, if it looped through
        # its whole schedule. Retries are what is left out when time runs short.
        afford = (budget.tokens(length, rest, False) if cheap else
                  budget.tokens(length, rest, True, len(first.temperatures) - 1,
                                first.best_of))
        cap = min(bound, max(afford, int(FLOOR_TOKENS * length), MIN_DECODE))
        chunk_opts = dataclasses.replace(chunk_opts, max_new_tokens=cap)
        began = budget.elapsed
        raw: list[Segment] = []
        if cap >= MIN_DECODE:
            raw = transcriber.transcribe(piece, budget.limited(chunk_opts, rest))
            took = budget.elapsed - began
            tokens = sum(seg.tokens for seg in raw)
            budget.record_tokens(length, tokens, took, cheap)
            if not any(seg.temperature > 0 for seg in raw) and tokens < 0.9 * cap:
                # The pace of an ordinary decode: a loop (a fallback, or a decode that ran to
                # its token bound) says nothing of the next chunk's cost, and made every
                # later part of the worker greedy (bench: 13 files after the looping ones).
                budget.record(length, took, cheap)
        echoed = bool(vocabulary) and echoes_vocabulary(raw, vocabulary)
        found, cuts = _clean(raw)
        got = overlap(said, text_spans(found))
        safe = dataclasses.replace(safe_options(chunk_opts), beam_size=chunk_opts.beam_size,
                                   max_new_tokens=token_bound(length))
        again_cap = min(token_bound(length), budget.tokens(length, rest, True,
                                                           len(SAFE_TEMPERATURES) - 1))
        if echoed and budget.fits(length, rest, 1.2) and again_cap >= MIN_TOKENS:
            retried += 1  # invented text: all of it again
            found, cuts = _clean(transcriber.transcribe(piece, budget.limited(
                dataclasses.replace(safe, max_new_tokens=again_cap), rest)))
            got = overlap(said, text_spans(found))
        elif spoken >= 0.5 and (got < RETRY_BELOW * spoken or any(
                e - s >= RETRY_GAP for s, e in subtract(said, text_spans(found)))):
            # Speech without text: only those stretches again, each from a fresh start
            # (Whisper that stopped early in a window, or skipped a stretch, gets it back).
            # Speech is never dropped for want of time: when the budget has no room for
            # beam search, the retry is greedy (and counted as degraded).
            missing = [g for g in subtract(said, text_spans(found)) if g[1] - g[0] >= 0.5]
            need = max(sum(e - s for s, e in missing), 0.4 * length)
            if missing:
                retried += 1
                again_opts = safe
                fallbacks_left = len(SAFE_TEMPERATURES) - 1
                if not budget.fits(need, rest, 1.2) or budget.tokens(
                        need, rest, True, fallbacks_left) < MIN_TOKENS:
                    degraded += 1
                    again_opts = dataclasses.replace(safe, beam_size=1, temperature=(0.0,))
                beam = again_opts.beam_size != 1
                for a, b in plan_chunks(missing, length, pad=0.3):
                    sub = piece[int(a * SAMPLE_RATE):int(b * SAMPLE_RATE)]
                    cap = min(token_bound(b - a), budget.tokens(
                        b - a, rest, beam, fallbacks_left if beam else 0))
                    if cap < MIN_DECODE:  # no time left: that stretch stays short
                        continue
                    again, again_cuts = _clean(transcriber.transcribe(sub, budget.limited(
                        dataclasses.replace(again_opts, max_new_tokens=cap), rest)))
                    found += [seg for seg in shift(again, a) if a <= (seg.start + seg.end) / 2 <= b]
                    cuts += again_cuts
                found.sort(key=lambda seg: seg.start)
                got = overlap(said, text_spans(found))
        fallbacks += any(s.temperature > 0 for s in found)
        cut_total += cuts
        covered += min(got, spoken)
        out += shift(found, start)
        if progress is not None:
            progress(min(1.0, end / duration) if duration else 1.0)
    if progress is not None:
        progress(1.0)
    if pace is not None:  # what the next part of this worker starts from
        # A part decoded all greedily never measured beam search again: its pace decays
        # towards the first guess, so a worker that one slow stretch made greedy comes
        # back to beam search (and measures it) a few parts later.
        pace.full = budget.full_pace if budget.measured_full else max(
            Pace.full, PACE_DECAY * budget.full_pace)
        pace.cheap = budget.cheap_pace
        pace.full_token, pace.cheap_token = budget.full_token, budget.cheap_token
    report = PartReport(
        audio_seconds=round(duration, 3), speech_seconds=round(sum(e - s for s, e in speech), 3),
        covered_seconds=round(covered, 3), chunks=len(chunks), retried=retried,
        fallbacks=fallbacks, repetitions_cut=cut_total, degraded=degraded,
        seconds=round(budget.elapsed, 3))
    return PartResult(out, report)


def _clean(segments: Sequence[Segment]) -> tuple[list[Segment], int]:
    """Repeated phrases cut inside segments, and a segment repeated 3+ times in a row kept
    once; empty segments dropped."""
    out: list[Segment] = []
    cuts = 0
    run = 0
    for seg in segments:
        seg, n = cut_repetitions(seg)
        cuts += n
        if not seg.text.strip():
            continue
        if out and _key(out[-1].text) == _key(seg.text):
            run += 1
            if run >= 2:
                cuts += 1
                continue
        else:
            run = 0
        out.append(seg)
    return out, cuts


__all__ = [
    "CHUNKED", "FIRST_PASSES", "PLAIN", "Budget", "FirstPass", "Pace", "PartReport",
    "PartResult", "SileroDetector", "SpeechDetector", "cut_repetitions", "echoes_vocabulary",
    "merge", "overlap", "plan_chunks", "safe_options", "text_spans", "token_bound",
    "transcribe_part",
]
