"""What the final transcript must hold on realistic audio (issue 10): parts cut in pauses
of a noisy room, never inside a word; the word-list café's speech transcribed, checked
against its audio and stored with its check (the real Whisper model for that one)."""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest
import speech_set
from transcripts_support import add_cafe, open_db, write_wav_file

from sessions.storage.database import Database
from transcripts.engine import (
    Audio,
    ProgressFn,
    Segment,
    TranscribeOptions,
    TranscriberPool,
    WhisperSettings,
    WhisperTranscriber,
)
from transcripts.jobs import TranscriptJobs, transcribe_file
from transcripts.model import resolve_model
from transcripts.parts import (
    FLOOR_TOKENS,
    MIN_DECODE,
    RTF_LIMIT,
    SHORT_BELOW,
    Budget,
    Pace,
    SileroDetector,
    plan_chunks,
    transcribe_part,
)
from transcripts.recorder import PartClosed, RecorderPolicy, SpeakerRecorder
from transcripts.repository import TranscriptRepository

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
needs_tools = pytest.mark.skipif(not speech_set.HAVE_TOOLS and not IN_CI,
                                 reason="needs espeak-ng and sox")


def cuts_of(sample: speech_set.Sample, folder: Path, policy: RecorderPolicy
            ) -> list[tuple[float, float]]:
    """Feed the sample as a tap does (20 ms chunks); each cut's time and part length."""
    rec = SpeakerRecorder(folder, "expert", policy)
    pcm = (np.clip(sample.audio, -1, 1) * 32767).astype(np.int16)
    events = []
    for i in range(0, len(pcm), 320):
        events += rec.push(pcm[i:i + 320], i / 16000)
    events += rec.close()
    closed = [e for e in events if isinstance(e, PartClosed)]
    return [(round(c.offset + c.duration, 3), c.duration) for c in closed[:-1]]


@needs_tools
@pytest.mark.parametrize(("language", "condition"),
                         [("fr", "noise"), ("en", "room"), ("fr", "music")])
def test_parts_are_cut_in_pauses_of_a_noisy_room(language: str, condition: str,
                                                 tmp_path: Path) -> None:
    sample = speech_set.make_sample(language, condition)
    policy = RecorderPolicy(part_seconds=4.0, part_max_seconds=12.0)
    cuts = cuts_of(sample, tmp_path / "adaptive", policy)
    assert len(cuts) >= 4, cuts  # ~29 s of speech in parts of 4 s or more
    for at, length in cuts:
        inside = [w for w in sample.words if w.start + 0.02 < at < w.end - 0.02]
        assert not inside, (at, inside)
        assert length < policy.part_max_seconds  # a pause was found: no hard cut
    # The fixed rule (below -40 dBFS) never finds a pause on this floor: only hard cuts.
    fixed = RecorderPolicy(part_seconds=4.0, part_max_seconds=12.0, quiet_db=-40.0,
                           adaptive=False)
    if condition == "noise":
        assert all(length >= 12.0 for _, length in cuts_of(sample, tmp_path / "fixed", fixed))


# -- the real model ---------------------------------------------------------------------------

# The word-list café of the issue: `3018, Snapchat, WhatsApp, e-Enfance` and an ordinary
# description; ~32 s of French espeak-ng speech gave "0 segments added" with the café's words
# passed as hotwords.
WORD_LIST_TALK = [
    "Bonjour à tous, ce soir nous parlons du harcèlement en ligne.",
    "Si votre enfant est harcelé, appelez le 3018, c'est gratuit.",
    "Les réseaux sociaux comme Snapchat ou WhatsApp sont très utilisés par les collégiens.",
    "L'association e-Enfance aide les familles.",
    "Le contrôle parental ne remplace pas le dialogue.",
    "Parlez avec votre enfant de ce qu'il voit sur internet.",
    "Les jeux vidéo en ligne permettent de discuter avec des inconnus.",
]


@pytest.fixture(scope="module")
def whisper(tmp_path_factory: pytest.TempPathFactory) -> WhisperTranscriber:
    cache = tmp_path_factory.getbasetemp().parent / "whisper-base-cache"
    transcriber = WhisperTranscriber(WhisperSettings(model=resolve_model("", cache)))
    transcriber.load()
    return transcriber


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    async for database in open_db(tmp_path):
        yield database


@pytest.mark.whisper
@needs_tools
async def test_word_list_cafe_keeps_its_speech(whisper: WhisperTranscriber, db: Database,
                                               tmp_path: Path) -> None:
    sample = speech_set.make_sample("fr", "clean", WORD_LIST_TALK)
    assert 28 <= sample.duration <= 40
    path = write_wav_file(tmp_path / "talk.wav", sample.audio)
    cafe_id = await add_cafe(db, slug="harcelement", title="Harcèlement en ligne",
                             glossary="3018, Snapchat, WhatsApp, e-Enfance")
    repo = TranscriptRepository(db)
    pool = TranscriberPool(lambda: whisper, processes=False)
    try:
        found = await transcribe_file(repo, TranscriptJobs(repo, pool), path, cafe_id,
                                      "Dr Martin")
    finally:
        await pool.aclose()
    text = " ".join(s.text for s in found).lower()
    assert len(found) >= 3, text
    # espeak's French voices are hard for base: sturdy words, from the first sentence to
    # the last, show that no stretch was dropped (the coverage below says it in seconds).
    sturdy = ["bonjour", "harcèlement", "réseaux", "enfant", "association", "famille",
              "contrôle", "dialogue", "vidéo", "discuter"]
    assert sum(word in text for word in sturdy) >= 4, text
    assert "bonjour" in text and "discuter" in text, text
    assert speech_set.recall(sample.text, text) >= 0.3, text
    spans = [(s.start, s.end) for s in found]
    assert speech_set.coverage(sample, spans) >= 0.95, (spans, sample.spoken())
    (check,) = await repo.part_checks(cafe_id)
    assert check.status == "done" and not check.short
    assert check.speech_seconds is not None and check.covered_seconds is not None
    assert check.speech_seconds >= 20 and check.covered_seconds >= 0.85 * check.speech_seconds


@pytest.mark.whisper
@pytest.mark.serial  # its bound is on this process's CPU time, which grows when another
# process busies the other core between two decodes (0.54 x measured then, bound 0.5)
@needs_tools
@pytest.mark.timeout(300)  # three parts decoded on a loaded machine
def test_a_part_that_loops_stays_within_its_time_budget(whisper: WhisperTranscriber) -> None:
    """Point 2: a part's transcription never costs more than `RTF_LIMIT` times its length,
    a decoding loop included. The telephone-band French below makes base loop (the plain
    call took 1.1-1.7 x real time on it); the worker's pace is measured first, on a clean
    file, as a worker carries it from part to part.

    The bound is on work: here it is kept in this process's CPU seconds, so that other
    sessions' load (tests run at nice 19 on a shared machine, whose share of the CPU moves
    several-fold between two decodes) does not decide the outcome; jobs keep it in wall
    time. With a budget of 0.1 x (less than even a clean decode costs) the chunk is decoded
    once, greedily, and only as far as ordinary speech goes; the retry is left out, and
    what falls short is marked."""
    clock = time.process_time
    pace = Pace()
    options = TranscribeOptions(language="fr", long_form=True, word_timestamps=True)
    warm = speech_set.make_sample("fr", "clean", variant=1)
    transcribe_part(whisper, warm.audio, options, SileroDetector(), pace=pace,
                    budget=Budget(warm.duration, clock=clock))
    sample = speech_set.make_sample("fr", "phone", variant=2)

    def budget(rtf: float) -> Budget:
        return Budget(sample.duration, rtf=rtf, clock=clock, full_pace=pace.full,
                      cheap_pace=pace.cheap, full_token=pace.full_token,
                      cheap_token=pace.cheap_token)

    result = transcribe_part(whisper, sample.audio, options, SileroDetector(),
                             budget=budget(RTF_LIMIT))
    assert result.report.rtf <= RTF_LIMIT, result.report
    calls: list[TranscribeOptions] = []

    class Counted:
        def transcribe(self, audio: Audio | str, opts: TranscribeOptions,
                       progress: ProgressFn | None = None) -> list[Segment]:
            calls.append(opts)
            return whisper.transcribe(audio, opts)

    cut = transcribe_part(Counted(), sample.audio, options, SileroDetector(),
                          budget=budget(0.1))
    report = cut.report
    assert report.degraded >= 1, report
    assert len(calls) == report.chunks, calls  # no retry: no time for one
    for call, (start, end) in zip(calls, plan_chunks(SileroDetector().speech(sample.audio),
                                                     sample.duration), strict=True):
        assert call.beam_size == 1 and call.temperature == (0.0,)
        assert call.max_new_tokens is not None
        assert call.max_new_tokens <= max(MIN_DECODE, FLOOR_TOKENS * (end - start))
    assert report.short == (report.coverage < SHORT_BELOW)


@needs_tools
@pytest.mark.whisper
def test_a_time_limit_keeps_the_window_already_decoded(whisper: WhisperTranscriber) -> None:
    """A decode past its time limit stops before the next 30 s window, never inside the
    one it has decoded: its other segments cost nothing. Stopping at the window's first
    segment kept one sentence of 29 s of speech (issue 10, a slower machine)."""
    sample = speech_set.make_sample("en", "clean")
    options = TranscribeOptions(language="en", long_form=True, word_timestamps=True,
                                condition=False, vad_filter=False, speech_only=True,
                                temperature=(0.0,), time_limit=1e-3)
    limited = whisper.transcribe(sample.audio[: int(29.0 * 16000)], options)
    free = whisper.transcribe(sample.audio[: int(29.0 * 16000)],
                              dataclasses.replace(options, time_limit=None))
    assert len(free) >= 4, free  # one window of several sentences
    assert len(limited) >= 4, limited  # that window's segments, all of them
    assert [s.text for s in limited] == [s.text for s in free[: len(limited)]]
    assert speech_set.coverage(sample, [(s.start, s.end) for s in limited]) > 0.8
