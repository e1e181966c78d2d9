"""Time from "end café" to a stored (searchable) transcript, with incremental transcription.

A simulated café: one speaker talking continuously (espeak-ng French, the worst case: its
sentences separated by the voice's own 0.4-0.5 s pauses) fed in 20 ms chunks, as a live tap
does, through the real tap -> recorder (parts of about `--part` seconds, cut in a pause) ->
in-process job queue -> Whisper worker process (final-job priority). Closed parts are
transcribed while the café goes on; the measure starts when the café ends (the last open
part is closed and queued) and stops when every segment is committed.

Feeding is faster than real time; the jobs run as parts close. Each part's compute time is
printed next to the audio length of the part that follows it: in a real café that is the
wall time before the next part closes, so "keeps pace" means compute(part n) < duration(part
n+1). Then at the end only the last part is left, and a 60-minute café ends as fast as a
10-minute one (the end-to-transcript time is the last part's compute time).

Run: .venv/bin/python bench/end_to_transcript.py [--minutes 10] [--part 120]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# Distinct sentences (a text repeated inside one 30 s window looks like a Whisper
# repetition loop and triggers temperature retries, which real speech does not).
from bench.transcription import FRENCH

TEXT = " ".join(FRENCH)


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def _speak(wav: Path) -> Path:
    subprocess.run(["espeak-ng", "-v", "fr", "-s", "150", "-w", str(wav), TEXT], check=True)
    return wav


async def run(minutes: float, part: float, tmp: Path) -> None:
    from datetime import UTC, datetime

    from sessions.storage.repo_associations import first_association_id
    from sessions.storage.tables import cafes, metadata
    from transcripts.engine import (
        SAMPLE_RATE,
        TranscriberPool,
        WhisperFactory,
        WhisperSettings,
        decode_audio,
    )
    from transcripts.jobs import LocalJobQueue, TranscriptJobs
    from transcripts.model import resolve_model
    from transcripts.recorder import RecorderPolicy, RecorderService
    from transcripts.repository import TranscriptRepository
    from transcripts.runtime import JOBS_NICE
    from transcripts.search import open_database

    wav = await asyncio.to_thread(_speak, tmp / "speech.wav")
    clip = (np.clip(decode_audio(wav), -1, 1) * 32767).astype(np.int16)
    total = int(minutes * 60 * SAMPLE_RATE)
    pcm = np.resize(clip, total)

    db = open_database(f"sqlite+aiosqlite:///{tmp / 'c.db'}")
    async with db.engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    now = datetime.now(UTC)
    async with db.transaction() as conn:
        cafe_id = int((await conn.execute(cafes.insert().values(
            association_id=await first_association_id(conn),
            slug="bench", title="Les écrans en famille", theme="screens", starts_at=now,
            duration_minutes=60, glossary="jeux vidéo, téléphone", created_at=now,
        ).returning(cafes.c.id))).scalar_one())
    repo = TranscriptRepository(db)
    settings = WhisperSettings(model=resolve_model("", Path("var/models/whisper-base")))
    pool = TranscriberPool(WhisperFactory(settings), nice=JOBS_NICE)
    await pool.warm_up()
    jobs = TranscriptJobs(repo, pool)
    queue = LocalJobQueue(jobs)
    done_at: dict[int, float] = {}
    closed_at: dict[int, float] = {}

    async def timed(cafe: int, recording_id: int) -> None:
        done_at[recording_id] = time.perf_counter()

    async def closed(cafe: int, recording_id: int) -> None:
        closed_at[recording_id] = time.perf_counter()
        await queue.enqueue(cafe, recording_id)

    jobs.on_done = timed
    policy = RecorderPolicy(part_seconds=part, part_max_seconds=part + 30)
    recorder = RecorderService(repo, tmp / "rec", on_closed=closed, policy=policy)
    tap = recorder.open(cafe_id, None, "Dr Martin")
    print(f"load average before: {loadavg()}", flush=True)
    t_feed = time.perf_counter()
    chunk = 320  # 20 ms, as the live tap
    for i in range(0, total, chunk):
        tap.push(pcm[i:i + chunk], i / SAMPLE_RATE)
        for _ in range(1000):  # paced so the recorder keeps up (its backlog is bounded)
            if tap._queue.qsize() < 500:
                break
            await asyncio.sleep(0.01)
    print(f"fed {minutes:.1f} min in {time.perf_counter() - t_feed:.1f} s", flush=True)
    for _ in range(6000):  # the recorder has written (and closed) what it was given
        if tap._queue.empty():
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(1.0)
    await queue.join()  # the closed parts, transcribed "during the café"

    t_end = time.perf_counter()
    await recorder.close_recording(tap)  # the café ends: the last part is closed and queued
    await queue.join()
    end_to_transcript = time.perf_counter() - t_end
    recs = await repo.recordings(cafe_id)
    segs = await repo.segments(cafe_id)
    print(f"parts: {len(recs)}; segments: {len(segs)}; last segment ends at "
          f"{segs[-1].end:.1f} s of {total / SAMPLE_RATE:.0f} s")

    # Where the parts were cut: inside a pause of the source speech?
    def quiet(t: float) -> bool:
        a, b = int((t - 0.25) * SAMPLE_RATE), int(t * SAMPLE_RATE)
        seg = pcm[max(0, a):b].astype(np.float64) / 32768
        return len(seg) > 0 and 20 * np.log10(np.sqrt(np.mean(seg**2)) + 1e-12) < -40
    cuts = [r.offset_seconds for r in recs[1:]]
    print(f"cuts at {', '.join(f'{c:.2f}' for c in cuts)} s: "
          f"{sum(quiet(c) for c in cuts)}/{len(cuts)} inside a pause of the speech")

    print(f"{'part':>4} {'audio s':>7} {'compute s':>9} {'RTF':>5} {'next part s':>11}  keeps pace")
    previous = t_feed
    compute: list[float] = []
    for n, rec in enumerate(recs):
        start = max(closed_at.get(rec.id, t_end), previous)
        took = done_at[rec.id] - start
        previous = done_at[rec.id]
        compute.append(took)
        nxt = recs[n + 1].duration_seconds if n + 1 < len(recs) else None
        pace = "" if nxt is None else ("yes" if took < (nxt or 0) else "NO")
        print(f"{n:>4} {rec.duration_seconds or 0:7.1f} {took:9.1f} "
              f"{took / (rec.duration_seconds or 1):5.3f} "
              f"{'' if nxt is None else f'{nxt:.1f}':>11}  {pace}")
    last = recs[-1]
    print(f"end café -> transcript stored: {end_to_transcript:.1f} s for a last part of "
          f"{last.duration_seconds:.0f} s; load average after: {loadavg()}")
    worst = max(c / (r.duration_seconds or 1) for c, r in zip(compute, recs, strict=True))
    late = sum(1 for n in range(len(recs) - 1)
               if compute[n] >= (recs[n + 1].duration_seconds or 0))
    pace = ("every part was transcribed before the next one closed, so the earlier parts "
            "of a 60-minute café are done during it and" if not late else
            f"{late} of {len(recs) - 1} parts took longer than the next part lasted (the "
            "machine's load average is above): a backlog can build up, and")
    print(f"extrapolated for a 60-minute café: {pace} the end-to-transcript time is the "
          f"last part's compute time: {end_to_transcript:.0f} s here; a last part of up to "
          f"{part + 30:.0f} s at the worst RTF seen ({worst:.3f}) takes "
          f"{worst * (part + 30):.0f} s. Without live captions competing for the cores.")
    await recorder.aclose()
    await queue.aclose()
    await pool.aclose()
    await db.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--part", type=float, default=120.0)
    args = ap.parse_args()
    print(f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} cores, "
          f"python {platform.python_version()}; whisper base int8, beam 5, 2 threads, "
          f"final-job worker at nice 15")
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(run(args.minutes, args.part, Path(tmp)))


if __name__ == "__main__":
    main()
