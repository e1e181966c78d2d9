"""Transcripts without the real model: model checksum, windowing, captions, recorder, jobs."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from sessions.storage.database import Database
from sessions.storage.repo_associations import first_association_id
from sessions.storage.tables import cafes, metadata
from transcripts.caption_lines import CaptionLine, CaptionMessage
from transcripts.captions import (
    CaptionService,
    EnergyDetector,
    Windower,
    WindowPolicy,
    squash_repeats,
)
from transcripts.engine import (
    SAMPLE_RATE,
    Audio,
    ProgressFn,
    Segment,
    TranscribeOptions,
    TranscriberPool,
    cafe_vocabulary,
    decode_audio,
)
from transcripts.errors import ModelUnavailable
from transcripts.jobs import LocalJobQueue, TranscriptJobs, enqueue_cafe, transcribe_file
from transcripts.model import ModelSource, install_model, is_installed, resolve_model
from transcripts.parts import echoes_vocabulary
from transcripts.recorder import PartClosed, PartOpened, RecorderPolicy, SpeakerRecorder
from transcripts.repository import TranscriptRepository
from transcripts.search import open_database

# -- model ------------------------------------------------------------------------------------


def _fake_source(tmp: Path, payload: bytes, sha: str | None = None) -> ModelSource:
    src = tmp / "src"
    src.mkdir(exist_ok=True)
    (src / "a").write_bytes(payload[:5])
    (src / "b").write_bytes(payload[5:])
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        (src / name).write_text("{}")
    return ModelSource(parts=[src / "a", src / "b"], aux_dir=src,
                       sha256=sha or hashlib.sha256(payload).hexdigest(), size=len(payload))


def test_install_model_concatenates_and_verifies(tmp_path: Path) -> None:
    source = _fake_source(tmp_path, b"hello whisper")
    out = install_model(tmp_path / "cache", source)
    assert (out / "model.bin").read_bytes() == b"hello whisper"
    assert is_installed(out, source.sha256)
    assert install_model(tmp_path / "cache", source) == out  # cached: no rewrite
    assert resolve_model(str(out), tmp_path / "unused") == str(out)


def test_corrupt_model_is_refused_and_nothing_is_left(tmp_path: Path) -> None:
    source = _fake_source(tmp_path, b"hello whisper", sha="0" * 64)
    with pytest.raises(ModelUnavailable, match=r"corrupt.*reinstall"):
        install_model(tmp_path / "cache", source)
    assert not (tmp_path / "cache" / "model.bin").exists()
    assert [p.name for p in (tmp_path / "cache").iterdir() if p.name.startswith(".model")] == []


def test_a_stale_stamp_reinstalls(tmp_path: Path) -> None:
    source = _fake_source(tmp_path, b"hello whisper")
    out = install_model(tmp_path / "cache", source)
    (out / "model.bin").write_bytes(b"tampered!!!!!")
    assert not is_installed(out, source.sha256)
    install_model(out, source)
    assert (out / "model.bin").read_bytes() == b"hello whisper"


@pytest.mark.parametrize("setting", ["/nonexistent/model", "models/base", "smal"])
def test_resolve_model_never_passes_a_missing_path(setting: str, tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailable, match=r"whisper\.model"):
        resolve_model(setting, tmp_path)


def test_resolve_model_accepts_known_names(tmp_path: Path) -> None:
    assert resolve_model("large-v3", tmp_path) == "large-v3"


# -- windowing --------------------------------------------------------------------------------


def tone(seconds: float, amp: float = 0.3) -> npt.NDArray[np.int16]:
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    return (np.sin(2 * np.pi * 220 * t) * amp * 32767).astype(np.int16)


def silence(seconds: float) -> npt.NDArray[np.int16]:
    return np.zeros(int(seconds * SAMPLE_RATE), dtype=np.int16)


def feed(windower: Windower, audio: npt.NDArray[np.int16], start: float = 0.0,
         chunk: float = 0.02) -> list[Any]:
    out = []
    step = int(chunk * SAMPLE_RATE)
    for i in range(0, len(audio), step):
        out.extend(windower.push(audio[i:i + step], start + i / SAMPLE_RATE))
    return out


def test_windower_emits_one_window_per_phrase() -> None:
    w = Windower("expert", EnergyDetector())
    audio = np.concatenate([silence(1), tone(1.5), silence(1), tone(2), silence(1)])
    windows = feed(w, audio, start=100.0)
    assert len(windows) == 2
    first, second = windows
    assert first.phrase_end and second.phrase_end
    assert 100.7 <= first.start <= 101.0 and first.speech_end == pytest.approx(102.5, abs=0.05)
    assert second.speech_end == pytest.approx(105.5, abs=0.05)
    assert first.end - first.speech_end == pytest.approx(0.5, abs=0.05)  # closed by silence
    assert first.audio.dtype == np.float32


def test_windower_cuts_long_speech_and_drops_clicks() -> None:
    w = Windower("expert", EnergyDetector(), WindowPolicy(max_window=4.0))
    windows = feed(w, np.concatenate([silence(0.5), tone(0.1), silence(1), tone(9)]))
    assert [x.phrase_end for x in windows] == [False, False]
    assert all(x.end - x.start <= 4.01 for x in windows)
    assert len(w.flush()) == 1


def test_windower_closes_a_phrase_on_a_timestamp_gap() -> None:
    w = Windower("expert", EnergyDetector())
    assert feed(w, np.concatenate([silence(0.5), tone(1)])) == []
    later = w.push(tone(0.5), 30.0)
    assert len(later) == 1 and later[0].end <= 1.6


class FakeTranscriber:
    def __init__(self, text: str = "bonjour", fail: int = 0, delay: float = 0.0) -> None:
        self.text = text
        self.fail = fail
        self.delay = delay
        self.calls = 0
        self.hotwords: list[str | None] = []
        self.languages: list[str | None] = []

    def transcribe(self, audio: Audio | str, options: TranscribeOptions,
                   progress: ProgressFn | None = None) -> list[Segment]:
        import time

        self.calls += 1
        self.hotwords.append(options.hotwords)
        self.languages.append(options.language)
        if self.delay:
            time.sleep(self.delay)
        if self.calls <= self.fail:
            raise RuntimeError("boom")
        if progress is not None:
            progress(0.5)
            progress(1.0)
        return [Segment(0.5, 1.5, "", self.text, ((0.5, 1.0, " bonjour", 0.9),)),
                Segment(2.0, 3.0, "", "la suite", ())]


async def test_caption_service_emits_off_loop() -> None:
    fake = FakeTranscriber("les jeux vidéo")
    pool = TranscriberPool(lambda: fake, processes=False)
    emitted: list[CaptionMessage] = []

    async def emit(message: CaptionMessage) -> None:
        emitted.append(message)

    service = CaptionService(pool, emit, detector_factory=EnergyDetector)
    stream = service.open(7, "Dr Martin")
    audio = np.concatenate([silence(0.5), tone(1), silence(1)])
    for i in range(0, len(audio), 320):
        stream.push(audio[i:i + 320], 10 + i / SAMPLE_RATE)
    for _ in range(100):
        if emitted:
            break
        await asyncio.sleep(0.01)
    await service.aclose()
    await pool.aclose()
    (line,) = emitted
    assert isinstance(line, CaptionLine) and line.cafe_id == 7 and line.final
    assert line.speaker == "Dr Martin"
    assert line.text.startswith("les jeux vidéo") and line.start >= 10
    assert service.latencies and service.latencies[0] < 2


def test_cafe_vocabulary() -> None:
    words = cafe_vocabulary("Les écrans à la maison", "Parlons-en : les écrans et l'école.",
                            "jeux vidéo; téléphone")
    # Terms, not sentences: glossary first, then distinct content words, no stop words.
    assert words == "jeux vidéo, téléphone, écrans, maison, Parlons-en, école"
    long = cafe_vocabulary("x" * 10, " ".join(f"mot{i:04d}" for i in range(500)))
    assert 350 < len(long) <= 400 and not long.endswith(",")
    # An English café leaves out English stop words, not French ones.
    english = cafe_vocabulary("Talking about screens with your children",
                              "Where should the phone sleep at night?", language="en")
    assert english == "Talking, screens, children, phone, sleep, night"


def test_segment_placed_in_cafe_time() -> None:
    seg = Segment(1.0, 2.0, "", "bonjour", ((1.0, 1.5, "bonjour", 0.9),))
    placed = seg.placed(60.0, "Dr Martin")
    assert (placed.start, placed.end, placed.speaker) == (61.0, 62.0, "Dr Martin")
    assert placed.words == ((61.0, 61.5, "bonjour", 0.9),)


# -- recorder core ----------------------------------------------------------------------------


def test_recorder_parts_gaps_and_offsets(tmp_path: Path) -> None:
    rec = SpeakerRecorder(tmp_path, "Dr Martin",
                          RecorderPolicy(part_seconds=2, part_max_seconds=3))
    events = []
    t = 5.0
    for chunk in np.split(np.concatenate([tone(2.5), silence(1)]), 35):
        events += rec.push(chunk, t)
        t += len(chunk) / SAMPLE_RATE
    events += rec.push(tone(1), t + 10)  # a long hole: a new part
    events += rec.close()
    opened = [e for e in events if isinstance(e, PartOpened)]
    closed = [e for e in events if isinstance(e, PartClosed)]
    assert [o.offset for o in opened] == [5.0, pytest.approx(closed[0].offset
                                                             + closed[0].duration, abs=0.05),
                                          pytest.approx(t + 10, abs=0.01)]
    assert len(closed) == 3 and closed[0].duration <= 3.01
    total = sum(len(decode_audio(c.path)) for c in closed) / SAMPLE_RATE
    assert total == pytest.approx(4.5, abs=0.15)
    assert closed[0].path.name == "dr-martin-000005000.ogg"


def test_recorder_cuts_parts_in_pauses_between_sentences(tmp_path: Path) -> None:
    """Word gaps (0.15 s) are not pauses; a sentence pause (0.4 s) is, live 20 ms chunks."""
    sentence = np.concatenate([tone(0.6), silence(0.15), tone(0.02), silence(0.02),
                               tone(0.6), silence(0.15), tone(0.8)])
    audio = np.concatenate([np.concatenate([sentence, silence(0.4)]) for _ in range(4)])
    rec = SpeakerRecorder(tmp_path, "x", RecorderPolicy(part_seconds=1.0, part_max_seconds=8))
    events = []
    for i in range(0, len(audio), 320):
        events += rec.push(audio[i:i + 320], i / SAMPLE_RATE)
    events += rec.close()
    period = (len(sentence) + len(silence(0.4))) / SAMPLE_RATE
    cuts = [e.offset for e in events if isinstance(e, PartOpened)][1:]
    assert len(cuts) == 4  # the last in the final pause
    for n, cut in enumerate(cuts, 1):  # 0.3 s into the n-th sentence pause
        assert cut == pytest.approx(n * period - 0.1, abs=0.03)


# -- jobs -------------------------------------------------------------------------------------


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = open_database(f"sqlite+aiosqlite:///{tmp_path / 'c.db'}")
    async with database.engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    yield database
    await database.close()


async def _cafe_with_recording(db: Database, tmp_path: Path) -> tuple[int, int]:
    now = dt.datetime.now(dt.UTC)
    async with db.transaction() as conn:
        cafe_id = (await conn.execute(cafes.insert().values(
            association_id=await first_association_id(conn),
            slug="c", title="Écrans", theme="screens", starts_at=now, duration_minutes=60,
            glossary="téléphone", created_at=now).returning(cafes.c.id))).scalar_one()
    path = tmp_path / "r.ogg"
    rec = SpeakerRecorder(tmp_path, "x")
    rec.push(tone(1), 0)
    (closed,) = [e for e in rec.close() if isinstance(e, PartClosed)]
    closed.path.rename(path)
    repo = TranscriptRepository(db)
    rid = await repo.create_recording(int(cafe_id), None, "Dr Martin", str(path), 600.0)
    await repo.close_recording(rid, 1.0)
    return int(cafe_id), rid


async def test_job_is_idempotent_and_in_cafe_time(db: Database, tmp_path: Path) -> None:
    cafe_id, rid = await _cafe_with_recording(db, tmp_path)
    repo = TranscriptRepository(db)
    fake = FakeTranscriber()
    pool = TranscriberPool(lambda: fake, processes=False)
    jobs = TranscriptJobs(repo, pool)
    assert await jobs.run(rid) == 2
    assert await jobs.run(rid) is None  # done: not run again
    # A stale "running" job (its worker died) is claimed again and replaces, not duplicates.
    await repo.requeue_running()
    await repo.fail_job(rid, "killed")
    assert await jobs.run(rid) == 2
    segs = await repo.segments(cafe_id)
    assert len(segs) == 2 and segs[0].start == 600.5 and segs[0].speaker == "Dr Martin"
    # The café's words are not given to the decoder: measured, they only ever lost speech.
    assert fake.hotwords[0] is None
    job = await repo.job(rid)
    assert job is not None and (job.status, job.progress, job.attempts) == ("done", 1.0, 2)
    await pool.aclose()


async def test_local_queue_retries_and_reports_progress(db: Database, tmp_path: Path) -> None:
    cafe_id, rid = await _cafe_with_recording(db, tmp_path)
    repo = TranscriptRepository(db)
    fake = FakeTranscriber(fail=1)
    pool = TranscriberPool(lambda: fake, processes=False)
    queue = LocalJobQueue(TranscriptJobs(repo, pool), retry_delay=0.01)
    assert await enqueue_cafe(repo, queue, cafe_id) == [rid]
    await asyncio.wait_for(queue.join(), 10)
    job = await repo.job(rid)
    assert job is not None and job.status == "done" and job.attempts == 2
    assert await repo.cafe_progress(cafe_id) == 1.0
    assert await enqueue_cafe(repo, queue, cafe_id) == []
    await queue.aclose()
    await pool.aclose()


async def test_transcribe_file_takes_the_job_path(db: Database, tmp_path: Path) -> None:
    """`causerie transcribe` runs the recording's job: its language, its ``on_done``."""
    cafe_id, _ = await _cafe_with_recording(db, tmp_path)
    repo = TranscriptRepository(db)
    fake = FakeTranscriber()
    pool = TranscriberPool(lambda: fake, processes=False)
    done: list[tuple[int, int]] = []

    async def on_done(cafe: int, recording_id: int) -> None:
        done.append((cafe, recording_id))

    try:
        found = await transcribe_file(repo, TranscriptJobs(repo, pool, on_done=on_done),
                                      tmp_path / "r.ogg", cafe_id, "Expert", "en",
                                      offset_seconds=30.0)
    finally:
        await pool.aclose()
    assert [s.text for s in found] == ["bonjour", "la suite"]
    assert found[0].start == 30.5 and found[0].speaker == "Expert"
    assert fake.languages and set(fake.languages) == {"en"}
    ((cafe, recording_id),) = done
    assert cafe == cafe_id
    job = await repo.job(recording_id)
    assert job is not None and job.status == "done"


async def test_a_job_cut_mid_way_is_resumed_at_start(db: Database, tmp_path: Path) -> None:
    cafe_id, rid = await _cafe_with_recording(db, tmp_path)
    repo = TranscriptRepository(db)
    slow = TranscriberPool(lambda: FakeTranscriber(delay=0.5), processes=False)
    task = asyncio.create_task(TranscriptJobs(repo, slow).run(rid))
    await asyncio.sleep(0.2)
    task.cancel()  # the worker stops mid-job: no segment was written, the claim is given back
    with pytest.raises(asyncio.CancelledError):
        await task
    job = await repo.job(rid)
    assert job is not None and job.status == "queued" and await repo.segments(cafe_id) == []
    # A worker killed outright leaves its claim `running`.
    assert await repo.start_job(rid, dt.timedelta(minutes=10)) is not None
    pool = TranscriberPool(FakeTranscriber, processes=False)
    queue = LocalJobQueue(TranscriptJobs(repo, pool))
    await queue.start()  # a fresh process requeues it
    await asyncio.wait_for(queue.join(), 10)
    assert len(await repo.segments(cafe_id)) == 2
    job = await repo.job(rid)
    assert job is not None and (job.status, job.attempts) == ("done", 3)
    await queue.aclose()
    await pool.aclose()
    await slow.aclose()


def test_squash_repeats_bounds_a_repetition_loop() -> None:
    loop = "les écrans en famille, les écrans, les écrans, les écrans, les écrans, les"
    assert squash_repeats(loop) == "les écrans en famille, les écrans, les"
    assert squash_repeats("il faut il faut il faut signaler") == "il faut signaler"
    assert squash_repeats("bonjour bonjour, à vous") == "bonjour bonjour, à vous"
    assert squash_repeats("") == ""


class EchoingTranscriber(FakeTranscriber):
    """Whisper on audio it cannot make out, given hotwords: it writes them back."""

    def transcribe(self, audio: Audio | str, options: TranscribeOptions,
                   progress: ProgressFn | None = None) -> list[Segment]:
        self.hotwords.append(options.hotwords)
        self.languages.append(options.language)
        if options.hotwords:
            return [Segment(0.0, 9.0, "", "Écrans, écrans, écrans, écrans, maison", ())]
        return [Segment(0.5, 1.5, "", "le téléphone reste hors de la chambre", ())]


async def test_job_retries_without_hotwords_when_whisper_echoes_them(
        db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The café's words are not given to a French café's decoder by default; given as
    # hotwords (an English café's default), an echo of them is still caught and the chunk
    # done again without.
    monkeypatch.setattr("transcripts.jobs.WORDS_AS", {"fr": "hotwords", "en": "hotwords"})
    # What is tested is the echo's retry, not the part's time bound: of a 1 s part (0.5 s
    # of work at most, the VAD's included) the bound would leave the retry out.
    monkeypatch.setattr("transcripts.parts.BUDGET_SHARE", 50.0)
    cafe_id, rid = await _cafe_with_recording(db, tmp_path)
    fake = EchoingTranscriber()
    jobs = TranscriptJobs(TranscriptRepository(db), TranscriberPool(lambda: fake,
                                                                    processes=False))
    assert await jobs.run(rid) == 1
    assert fake.hotwords[0] and fake.hotwords[1] is None
    (seg,) = await TranscriptRepository(db).segments(cafe_id)
    assert seg.text == "le téléphone reste hors de la chambre"


def test_echo_detection() -> None:
    vocab = "jeux vidéo, téléphone, écrans, maison"
    said = [Segment(0, 1, "", "Les jeux vidéo en ligne permettent de discuter", ())]
    assert not echoes_vocabulary(said, vocab)
    assert echoes_vocabulary([Segment(0, 1, "", "Jeux, vidéo, écrans, maison", ())], vocab)
    assert echoes_vocabulary([Segment(0, 1, "", "réseaux réseaux réseaux réseaux", ())], vocab)
    assert not echoes_vocabulary([Segment(0, 1, "", "écrans", ())], vocab)


def test_more_in_window_sees_the_rest_of_a_decoded_window() -> None:
    from collections.abc import Iterator

    from transcripts.engine import more_in_window

    def windows() -> Iterator[str]:  # faster-whisper's shape: a window, then its segments
        for window in (["a", "b", "c"], ["d"]):
            current_segments = [{"text": t} for t in window]
            for segment in current_segments:
                yield str(segment["text"])

    gen = windows()
    seen = []
    for text in gen:
        seen.append((text, more_in_window(gen)))
    assert seen == [("a", True), ("b", True), ("c", False), ("d", False)]

    def wrapped() -> Iterator[str]:  # anything else: unseen, the caller stops
        yield from ["x", "y"]

    other = wrapped()
    assert next(other) == "x" and more_in_window(other) is False
    assert more_in_window(iter(["x"])) is False
