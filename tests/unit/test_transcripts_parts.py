"""A part's check against its own audio, with a fake Whisper and a fake voice detector (the
seams `transcripts.parts` owns); the real model is in tests/functional."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest

from transcripts.engine import SAMPLE_RATE, Segment, TranscribeOptions
from transcripts.parts import (
    CHUNK_MAX,
    CHUNK_PAD,
    Budget,
    cut_repetitions,
    merge,
    overlap,
    plan_chunks,
    token_bound,
    transcribe_part,
)

Span = tuple[float, float]


class Spans:
    """A fake voice detector: the speech is where the test says."""

    def __init__(self, spans: list[Span]) -> None:
        self.spans = spans

    def speech(self, audio: Any) -> list[Span]:
        return list(self.spans)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class FakeWhisper:
    """Words every 0.3 s over the chunk's speech; nothing at all (the word-list café) when
    given the café's words if `lose_with_words`; `cost` seconds of clock per audio second
    (beam search) or `cheap` (greedy)."""

    def __init__(self, speech: list[Span], *, lose_with_words: bool = False,
                 echo: bool = False, clock: Clock | None = None, cost: float = 0.1,
                 cheap: float = 0.02) -> None:
        self.speech = speech
        self.lose_with_words = lose_with_words
        self.echo = echo
        self.clock = clock
        self.cost, self.cheap = cost, cheap
        self.calls: list[TranscribeOptions] = []

    def transcribe(self, audio: Any, options: TranscribeOptions,
                   progress: Any = None) -> list[Segment]:
        self.calls.append(options)
        seconds = len(audio) / SAMPLE_RATE
        if self.clock is not None:
            self.clock.now += seconds * (self.cheap if options.beam_size == 1 else self.cost)
        words_given = bool(options.hotwords or options.prompt)
        if words_given and self.lose_with_words:
            return []
        if words_given and self.echo:
            return [Segment(0.0, seconds, "", "Snapchat, WhatsApp, Snapchat, e-Enfance")]
        # A word every 0.3 s over the whole chunk (the tests' chunks are all speech).
        words = tuple((round(t, 2), round(t + 0.25, 2), f" mot{i}", 0.9)
                      for i, t in enumerate(np.arange(0.3, seconds - 0.3, 0.3)))
        return [Segment(0.0, seconds, "", "".join(w[2] for w in words).strip(), words)]


def audio_of(seconds: float) -> Any:
    return np.zeros(int(seconds * SAMPLE_RATE), np.float32)


def test_a_chunk_lost_with_the_cafe_words_is_transcribed_again_without_them() -> None:
    speech = [(1.0, 20.0), (30.0, 50.0), (60.0, 80.0)]
    fake = FakeWhisper(speech, lose_with_words=True)
    options = TranscribeOptions(language="fr", hotwords="3018, Snapchat, WhatsApp, e-Enfance",
                                long_form=True)
    result = transcribe_part(fake, audio_of(85.0), options, Spans(speech))
    r = result.report
    assert r.chunks == 3 and r.retried == 3
    assert r.speech_seconds == 59.0 and r.coverage > 0.95 and not r.short
    assert result.segments and result.segments[0].start >= 1.0 - CHUNK_PAD - 1e-9
    retries = [o for o in fake.calls if o.hotwords is None]
    assert len(retries) == 3
    # The safe settings: no word list, no prompt, no conditioning, a bounded schedule.
    assert all(o.prompt is None and o.long_form and o.temperature == (0.0, 0.3, 0.6)
               for o in retries)
    first = [o for o in fake.calls if o.hotwords]
    assert all(o.max_new_tokens and o.max_new_tokens <= 200 and o.speech_only
               and not o.vad_filter for o in first)


def test_what_still_falls_short_is_marked() -> None:
    class Deaf(FakeWhisper):
        def transcribe(self, audio: Any, options: TranscribeOptions,
                       progress: Any = None) -> list[Segment]:
            self.calls.append(options)
            return []

    speech = [(0.5, 6.0)]
    deaf = Deaf(speech)
    result = transcribe_part(deaf, audio_of(8.0), TranscribeOptions(), Spans(speech))
    assert result.segments == [] and len(deaf.calls) == 2
    assert result.report.short and result.report.covered_seconds == 0.0
    assert result.report.speech_seconds == 5.5


def test_a_sentence_skipped_in_a_well_covered_chunk_is_transcribed_again() -> None:
    """The first pass skips 3 s of a 25 s chunk (88 % covered, above RETRY_BELOW): the
    stretch is still decoded again, on its own, and the part ends fully covered."""

    class Skipping(FakeWhisper):
        def transcribe(self, audio: Any, options: TranscribeOptions,
                       progress: Any = None) -> list[Segment]:
            (seg,) = super().transcribe(audio, options, progress)
            if len(audio) / SAMPLE_RATE < 20.0:  # the retry of the stretch: all of it
                return [seg]
            kept = tuple(w for w in seg.words if not 10.0 <= w[0] <= 13.0)
            return [Segment(seg.start, seg.end, "", "".join(w[2] for w in kept).strip(),
                            kept)]

    speech = [(0.5, 25.5)]
    fake = Skipping(speech)
    result = transcribe_part(fake, audio_of(26.0), TranscribeOptions(), Spans(speech))
    r = result.report
    assert r.retried == 1 and len(fake.calls) == 2 and not r.short
    assert r.coverage > 0.97
    retry = fake.calls[1]
    assert retry.temperature == (0.0, 0.3, 0.6) and retry.hotwords is None


def test_silence_is_not_short_and_costs_nothing() -> None:
    fake = FakeWhisper([])
    result = transcribe_part(fake, audio_of(10.0), TranscribeOptions(), Spans([]))
    assert result.segments == [] and not result.report.short and fake.calls == []


def test_an_echo_of_the_cafe_words_is_replaced() -> None:
    speech = [(0.5, 8.0)]
    fake = FakeWhisper(speech, echo=True)
    result = transcribe_part(fake, audio_of(9.0),
                             TranscribeOptions(prompt="Snapchat, WhatsApp, e-Enfance"),
                             Spans(speech))
    assert result.report.retried == 1
    assert "Snapchat" not in " ".join(s.text for s in result.segments)


def test_a_slow_machine_stays_within_half_real_time() -> None:
    """Beam search at 0.7 x real time (a loaded machine) on a 60 s part: later chunks are
    decoded greedily, the part takes at most half its length, and the cheap chunks are
    counted."""
    clock = Clock()
    speech = [(s + 0.5, s + 20.0) for s in range(0, 120, 30)]  # a chunk each
    fake = FakeWhisper(speech, clock=clock, cost=0.7, cheap=0.1)
    budget = Budget(120.0, clock=clock)
    result = transcribe_part(fake, audio_of(120.0), TranscribeOptions(), Spans(speech),
                             budget=budget)
    r = result.report
    assert r.chunks == 4 and r.degraded >= 1
    assert clock.now <= 0.5 * 120.0 and r.rtf <= 0.5
    assert not r.short


def test_on_a_fast_machine_nothing_is_degraded() -> None:
    clock = Clock()
    speech = [(s + 0.5, s + 14.0) for s in range(0, 60, 15)]
    fake = FakeWhisper(speech, clock=clock, cost=0.15)
    result = transcribe_part(fake, audio_of(60.0), TranscribeOptions(), Spans(speech),
                             budget=Budget(60.0, clock=clock))
    assert result.report.degraded == 0 and all(o.beam_size is None for o in fake.calls)


def test_repetition_loops_are_cut_and_counted() -> None:
    said = " on en parle" * 5 + " demain"
    tokens = said.split()
    words = tuple((i * 0.3, i * 0.3 + 0.2, f" {t}", 0.9) for i, t in enumerate(tokens))
    seg, cut = cut_repetitions(Segment(0.0, 6.0, "", said.strip(), words))
    assert seg.text == "on en parle demain" and cut == 4
    assert [w[2] for w in seg.words] == [" on", " en", " parle", " demain"]
    plain, cut = cut_repetitions(Segment(0, 1, "", "merci merci, au revoir"))
    assert cut == 0 and plain.text == "merci merci, au revoir"
    loop, cut = cut_repetitions(Segment(0, 1, "", "non non non non non"))
    assert loop.text == "non" and cut == 4


def test_token_bound_grows_with_the_chunk_and_stays_under_whisper_limit() -> None:
    assert token_bound(1.0) == 40 and token_bound(10.0) == 120 and token_bound(30.0) == 200
    # Without a prompt nor conditioning a full chunk of fast French fits (336, not 200).
    assert token_bound(28.0, free=True) == 336 and token_bound(60.0, free=True) == 400


def test_a_chunk_without_prompt_may_decode_a_full_window_and_falls_back_cheaply() -> None:
    speech = [(0.5, 27.5)]
    fake = FakeWhisper(speech)
    transcribe_part(fake, audio_of(28.0), TranscribeOptions(), Spans(speech))
    (first,) = fake.calls
    # The chunk is the speech padded by 0.25 s: 27.5 s, 330 tokens (200 before).
    assert first.max_new_tokens == 330 and first.best_of == 1 and first.condition is False
    fake = FakeWhisper(speech)
    transcribe_part(fake, audio_of(28.0), TranscribeOptions(prompt="3018, Snapchat"),
                    Spans(speech))
    assert fake.calls[0].max_new_tokens == 200  # the prompt takes its share of the window


def test_speech_lost_on_a_late_budget_is_still_retried_greedily() -> None:
    """Beam search at 0.3 x real time leaves no room for a beam retry: the stretch the
    first pass lost is decoded again greedily (the worker measured greedy decoding at 0.05
    x real time), not left out."""

    class LosesFirst(FakeWhisper):
        def transcribe(self, audio: Any, options: TranscribeOptions,
                       progress: Any = None) -> list[Segment]:
            found = super().transcribe(audio, options, progress)
            return [] if len(self.calls) == 1 else found

    clock = Clock()
    speech = [(0.5, 20.0)]
    fake = LosesFirst(speech, clock=clock, cost=0.3, cheap=0.05)
    result = transcribe_part(fake, audio_of(21.0), TranscribeOptions(), Spans(speech),
                             budget=Budget(21.0, clock=clock, cheap_pace=0.05,
                                           cheap_token=0.01))
    r = result.report
    assert r.retried == 1 and r.degraded == 1 and not r.short and r.coverage > 0.9
    assert fake.calls[-1].beam_size == 1 and fake.calls[-1].temperature == (0.0,)


@pytest.mark.parametrize("seed", range(30))
def test_chunks_hold_all_speech_and_fit_a_window(seed: int) -> None:
    rng = np.random.default_rng(seed)
    raw = zip(rng.uniform(0, 300, rng.integers(0, 40)), rng.uniform(0.05, 20, 40),
              strict=False)
    speech = merge([(float(s), float(s + d)) for s, d in raw])
    duration = max((e for _, e in speech), default=0.0) + 1.0
    chunks = plan_chunks(speech, duration)
    longest = max((e - s for s, e in speech), default=0.0)
    # A chunk is at most CHUNK_MAX, unless one span of speech alone is longer.
    assert all(e - s <= max(CHUNK_MAX, longest + CHUNK_PAD) + 1e-9 for s, e in chunks)
    assert all(0.0 <= s < e <= duration for s, e in chunks)
    assert all(b[0] >= a[1] - 1e-9 for a, b in itertools.pairwise(chunks))
    total = sum(e - s for s, e in speech)
    assert abs(overlap(speech, merge(chunks)) - total) < 1e-6


def test_the_next_part_starts_from_the_pace_last_seen() -> None:
    """A worker that just saw beam search at 1.2 x real time (a very loaded machine)
    decodes the next part's first chunk greedily instead of spending its budget finding
    that out again."""
    from transcripts.parts import Pace

    clock = Clock()
    speech = [(0.5, 19.0), (20.5, 39.0)]  # two chunks
    fake = FakeWhisper(speech, clock=clock, cost=1.2, cheap=0.1)
    pace = Pace()
    transcribe_part(fake, audio_of(40.0), TranscribeOptions(), Spans(speech),
                    budget=Budget(40.0, clock=clock), pace=pace)
    assert pace.full >= 1.0
    fake.calls.clear()
    clock.now = 0.0
    result = transcribe_part(fake, audio_of(40.0), TranscribeOptions(), Spans(speech),
                             budget=None, pace=pace)
    # Every decode greedy (what no longer fits at all, within 0.5 x, is left out: counted).
    assert all(call.beam_size == 1 for call in fake.calls) and result.report.degraded >= 2


class LoopingWhisper(FakeWhisper):
    """Every decode loops: it runs to its token bound (no bound: 448 tokens) at `per_token`
    s of clock each, plus `fixed` s (the encoder), and its text is one word said over and
    over."""

    def __init__(self, speech: list[Span], clock: Clock, per_token: float = 0.05,
                 fixed: float = 0.5) -> None:
        super().__init__(speech, clock=None)
        self.loop_clock, self.per_token, self.fixed = clock, per_token, fixed

    def transcribe(self, audio: Any, options: TranscribeOptions,
                   progress: Any = None) -> list[Segment]:
        self.calls.append(options)
        tokens = options.max_new_tokens or 448
        self.loop_clock.now += self.fixed + tokens * self.per_token
        seconds = len(audio) / SAMPLE_RATE
        return [Segment(0.0, seconds, "", " ".join(["encore"] * (tokens // 2)),
                        tokens=tokens)]


def test_a_decoding_loop_never_takes_the_part_past_its_time_budget() -> None:
    """Point 2: each decode's token bound is cut to the time left (a loop costs what its
    bound allows), and a chunk no decode fits in any more is left out, the part marked
    short: 60 s of speech in three chunks, every decode looping (0.05 s a token, beam or
    greedy, as the worker measured on its last part), stays within 0.5 x."""
    speech = [(0.5, 19.5), (20.5, 39.5), (40.5, 59.5)]
    clock = Clock()
    whisper = LoopingWhisper(speech, clock)
    result = transcribe_part(whisper, audio_of(60.0), TranscribeOptions(), Spans(speech),
                             budget=Budget(60.0, clock=clock, full_pace=0.6, cheap_pace=0.6,
                                           full_token=0.05, cheap_token=0.05))
    assert result.report.seconds <= 0.5 * 60.0, result.report
    assert all(call.max_new_tokens for call in whisper.calls)
    assert result.report.repetitions_cut >= 1 and result.report.degraded >= 1


def test_a_decode_gets_the_tokens_the_time_left_allows() -> None:
    clock = Clock()
    budget = Budget(20.0, rtf=0.5, clock=clock, full_token=0.05, cheap_token=0.02)
    # It plans with 0.8 of its 10 s (the slack for its estimates): 8 s at 0.05 s a token,
    # less 20 tokens for each decode's fixed cost.
    assert budget.tokens(4.0, 0.0, beam=True) == 160 - 20
    # Through two more temperatures: 0.05 + 2 x 0.02 s a token, three decodes' fixed costs.
    assert budget.tokens(4.0, 0.0, beam=True, fallbacks=2) == 88 - 60
    assert budget.tokens(4.0, 5.0, beam=True) < 140  # the rest of the part kept room
    clock.now = 6.0  # 2 s left: an ordinary decode of 10 s (50 tokens) no longer fits
    assert budget.tokens(10.0, 0.0, beam=True) == 0
    assert budget.tokens(4.0, 0.0, beam=False) == 100 - 20


def test_a_worker_made_greedy_comes_back_to_beam_search() -> None:
    """A worker whose pace says beam search does not fit decodes greedily, and so never
    measures beam search again: after each all-greedy part the pace decays, so a few parts
    later (the machine quiet again) beam search is back and measured."""
    from transcripts.parts import Pace

    clock = Clock()
    speech = [(0.5, 14.0)]
    fake = FakeWhisper(speech, clock=clock, cost=0.2, cheap=0.05)
    pace = Pace(full=1.0, cheap=0.05)
    beams = []
    for _ in range(8):
        fake.calls.clear()
        transcribe_part(fake, audio_of(15.0), TranscribeOptions(), Spans(speech),
                        budget=Budget(15.0, clock=clock, full_pace=pace.full,
                                      cheap_pace=pace.cheap), pace=pace)
        beams.append(fake.calls[0].beam_size != 1)
    assert not beams[0] and beams[-1] and pace.full < 0.3, (beams, pace)
