"""Live captions without the model: interim windows, the queue's order and drops, and how a
line grows and is replaced (pure), then the service with a fake transcriber."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import random

import numpy as np
import numpy.typing as npt
import pytest

from transcripts.caption_lines import (
    CaptionLine,
    CaptionLines,
    CaptionMessage,
    CaptionQueue,
    CaptionsBehind,
    Pending,
)
from transcripts.captions import CaptionService, CaptionSettings, encoder_frames
from transcripts.engine import (
    SAMPLE_RATE,
    Audio,
    ProgressFn,
    Segment,
    TranscribeOptions,
    TranscriberPool,
)
from transcripts.windowing import CaptionWindow, EnergyDetector, Windower, WindowPolicy


def tone(seconds: float, amp: float = 0.3) -> npt.NDArray[np.int16]:
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    return (np.sin(2 * np.pi * 220 * t) * amp * 32767).astype(np.int16)


def silence(seconds: float) -> npt.NDArray[np.int16]:
    return np.zeros(int(seconds * SAMPLE_RATE), dtype=np.int16)


def feed(windower: Windower, audio: npt.NDArray[np.int16], start: float = 0.0,
         chunk: float = 0.02) -> list[CaptionWindow]:
    out: list[CaptionWindow] = []
    step = int(chunk * SAMPLE_RATE)
    for i in range(0, len(audio), step):
        out.extend(windower.push(audio[i:i + step], start + i / SAMPLE_RATE))
    return out


# -- windowing: interims ------------------------------------------------------------------------


def test_a_phrase_grows_through_interims_to_its_final() -> None:
    w = Windower("expert", EnergyDetector(), WindowPolicy(interim_every=1.0))
    windows = feed(w, np.concatenate([silence(0.5), tone(3.5), silence(1), tone(1.2),
                                      silence(1)]))
    first = [x for x in windows if x.line == 1]
    second = [x for x in windows if x.line == 2]
    assert [x.final for x in first] == [False, False, False, True]
    assert [x.final for x in second] == [False, True]
    # Each interim is the phrase so far, from the same start: it only grows.
    assert len({x.start for x in first}) == 1
    ends = [x.end for x in first]
    assert ends == sorted(ends) and all(b - a >= 0.99 for a, b in itertools.pairwise(ends[:-1]))
    assert all(len(x.audio) == round((x.end - x.start) * SAMPLE_RATE) for x in first)
    assert first[-1].phrase_end and first[-1].speech_end == pytest.approx(4.0, abs=0.05)


def test_no_interims_unless_asked_and_none_in_silence() -> None:
    plain = feed(Windower("e", EnergyDetector()), np.concatenate([tone(3), silence(1)]))
    assert [x.final for x in plain] == [True]
    w = Windower("e", EnergyDetector(), WindowPolicy(interim_every=0.5, min_silence=2.0))
    windows = feed(w, np.concatenate([tone(0.6), silence(3)]))
    # The trailing 2 s of silence before the phrase closes give no interim of their own.
    assert [x.final for x in windows] == [False, True]


def test_a_cut_phrase_continues_on_a_new_line() -> None:
    w = Windower("e", EnergyDetector(), WindowPolicy(max_window=3.0, interim_every=2.0))
    windows = feed(w, np.concatenate([tone(7), silence(1)]))
    finals = [x for x in windows if x.final]
    assert [(x.line, x.phrase_end) for x in finals] == [(1, False), (2, False), (3, True)]
    assert all(x.end - x.start <= 3.01 for x in windows)


def test_one_chunk_yields_at_most_one_interim() -> None:
    w = Windower("e", EnergyDetector(), WindowPolicy(interim_every=0.1))
    windows = w.push(tone(2.0), 0.0)  # a big chunk crosses many interim points
    assert len(windows) == 1 and not windows[0].final


def test_the_encoder_sees_the_window_and_its_pad_only() -> None:
    assert encoder_frames(3 * SAMPLE_RATE, 1.0) == 400
    assert encoder_frames(int(2.3 * SAMPLE_RATE), 1.0) == 400  # rounded up to a second
    assert encoder_frames(int(9.5 * SAMPLE_RATE), 1.0) == 1100
    assert encoder_frames(40 * SAMPLE_RATE, 1.0) == 3000  # never past Whisper's 30 s
    assert encoder_frames(3 * SAMPLE_RATE, None) is None  # the library's padding


# -- the queue ----------------------------------------------------------------------------------


def window(line: int, final: bool, speaker: str = "e", start: float = 0.0) -> CaptionWindow:
    audio = np.zeros(SAMPLE_RATE, dtype=np.float32)
    return CaptionWindow(speaker, line, start, start + 1.0, audio, final, final, start + 0.5)


def job(stream: int, line: int, final: bool, at: float) -> Pending:
    return Pending(1, stream, window(line, final), at)


def test_finals_go_first_in_order_and_the_latest_interim_wins() -> None:
    q = CaptionQueue(max_wait=5)
    q.add(job(1, 1, False, 0.0))
    q.add(job(1, 1, False, 0.5))  # replaces the first interim of stream 1
    q.add(job(2, 4, True, 1.0))
    q.add(job(3, 1, True, 1.1))
    taken = [q.take(2.0)[0] for _ in range(4)]
    assert [(j.stream, j.window.line, j.window.final) if j else None for j in taken] == [
        (2, 4, True), (3, 1, True), (1, 1, False), None]
    assert taken[2] is not None and taken[2].queued_at == 0.5


def test_a_final_replaces_its_lines_interim() -> None:
    q = CaptionQueue(max_wait=5)
    q.add(job(1, 1, False, 0.0))
    q.add(job(1, 1, True, 0.2))
    first, _ = q.take(0.3)
    assert first is not None and first.window.final
    assert q.take(0.3) == (None, []) and len(q) == 0


def test_stale_finals_are_dropped_and_returned() -> None:
    q = CaptionQueue(max_wait=3)
    q.add(job(1, 1, True, 0.0))
    q.add(job(1, 2, True, 2.0))
    nxt, dropped = q.take(4.0)
    assert nxt is not None and nxt.window.line == 2
    assert [d.window.line for d in dropped] == [1]


# -- lines: growth and replacement -------------------------------------------------------------


def test_interims_and_final_share_one_line_that_is_replaced() -> None:
    lines = CaptionLines()
    a = lines.caption(job(1, 1, False, 0), "les jeux")
    same = lines.caption(job(1, 1, False, 0), "les jeux")
    b = lines.caption(job(1, 1, False, 0), "les jeux vidéo")
    final = lines.caption(job(1, 1, True, 0), "les jeux vidéo en ligne")
    late = lines.caption(job(1, 1, False, 0), "les jeux vidéo en")
    nxt = lines.caption(job(1, 2, False, 0), "le téléphone")
    assert same is None and late is None
    assert a is not None and b is not None and final is not None and nxt is not None
    assert a.id == b.id == final.id != nxt.id
    assert (a.final, b.final, final.final) == (False, False, True)
    assert final.payload() == {"id": "1-1", "speaker": "e", "text": "les jeux vidéo en ligne",
                               "start": 0.0, "end": 1.0, "final": True}


def test_a_silent_final_keeps_the_interim_text_or_sends_nothing() -> None:
    lines = CaptionLines()
    assert lines.caption(job(1, 1, True, 0), "") is None
    lines.caption(job(1, 2, False, 0), "bonjour")
    kept = lines.caption(job(1, 2, True, 0), "")
    assert kept is not None and kept.final and kept.text == "bonjour"


def test_a_dropped_final_closes_its_line() -> None:
    lines = CaptionLines()
    lines.caption(job(1, 1, False, 0), "bonjour")
    behind = lines.behind(job(1, 1, True, 1.0), now=8.0)
    assert isinstance(behind, CaptionsBehind) and behind.id == "1-1"
    assert behind.payload()["waited"] == 7.0 and behind.event == "captions.behind"
    assert lines.caption(job(1, 1, False, 0), "bonjour à tous") is None


@pytest.mark.parametrize("seed", range(200))
def test_what_a_page_shows_never_regresses(seed: int) -> None:
    """Whatever order results come back in (generated), a line gets at most one final,
    nothing after it, and never the same interim twice in a row."""
    rnd = random.Random(seed)
    events = [(rnd.randint(1, 3), rnd.randint(1, 4), rnd.random() < 0.4,
               rnd.choice(["", "a", "a b", "a b c"])) for _ in range(rnd.randint(0, 40))]
    lines = CaptionLines()
    sent: dict[str, list[CaptionLine]] = {}
    for stream, line, final, text in events:
        msg = lines.caption(job(stream, line, final, 0), text)
        if msg is not None:
            sent.setdefault(msg.id, []).append(msg)
    for msgs in sent.values():
        assert all(not m.final for m in msgs[:-1])
        assert all(m.text for m in msgs)
        assert all(a.text != b.text or b.final for a, b in itertools.pairwise(msgs))


# -- the service, with a fake transcriber -------------------------------------------------------


class LengthTranscriber:
    """Says one word per second of audio: an interim says fewer words than its final."""

    def transcribe(self, audio: Audio | str, options: TranscribeOptions,
                   progress: ProgressFn | None = None) -> list[Segment]:
        assert not isinstance(audio, str)
        words = [f"mot{i}" for i in range(max(1, int(len(audio) / SAMPLE_RATE)))]
        return [Segment(0.0, 1.0, "", " ".join(words))]


async def test_the_service_grows_one_line_per_phrase() -> None:
    pool = TranscriberPool(LengthTranscriber, processes=False)
    emitted: list[CaptionMessage] = []

    async def emit(message: CaptionMessage) -> None:
        emitted.append(message)

    service = CaptionService(pool, emit, detector_factory=EnergyDetector,
                             settings=CaptionSettings(policy=WindowPolicy(interim_every=1.0)))
    stream = service.open(3, "Dr Martin")
    audio = np.concatenate([silence(0.3), tone(3.2), silence(1), tone(1.2), silence(1)])
    for i in range(0, len(audio), 320):
        stream.push(audio[i:i + 320], i / SAMPLE_RATE)
        await asyncio.sleep(0.001)  # the worker thread keeps up, as on an idle machine
    for _ in range(200):
        if service.idle():
            break
        await asyncio.sleep(0.01)
    await service.aclose()
    await pool.aclose()
    lines = [m for m in emitted if isinstance(m, CaptionLine)]
    ids = list(dict.fromkeys(m.id for m in lines))
    assert len(ids) == 2
    first = [m for m in lines if m.id == ids[0]]
    assert len(first) >= 2 and [m.final for m in first][-1] and not first[0].final
    assert len(first[-1].text.split()) > len(first[0].text.split())
    assert service.interims >= 2 and service.dropped == 0 and len(service.latencies) == 2


async def test_a_busy_worker_drops_stale_phrases_and_says_so() -> None:
    clock = [0.0]
    pool = TranscriberPool(LengthTranscriber, processes=False)
    emitted: list[CaptionMessage] = []

    async def emit(message: CaptionMessage) -> None:
        emitted.append(message)

    service = CaptionService(pool, emit, detector_factory=EnergyDetector,
                             settings=CaptionSettings(max_wait=2.0), clock=lambda: clock[0])
    stream = service.open(3, "Dr Martin")
    for line, at in ((1, 0.0), (2, 0.1)):
        service.submit(3, stream.stream, dataclasses.replace(window(line, True), line=line))
        clock[0] = at
    clock[0] = 5.0  # both waited 5 s before the worker got to them
    for _ in range(100):
        if service.idle() and len(emitted) == 2:
            break
        await asyncio.sleep(0.01)
    await service.aclose()
    await pool.aclose()
    assert [type(m) for m in emitted] == [CaptionsBehind, CaptionsBehind]
    assert service.dropped == 2 and service.latencies == []
