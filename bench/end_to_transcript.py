"""Time from "end café" to a stored (searchable) transcript, with incremental transcription.

A simulated café: one speaker talking continuously (espeak-ng French, the worst case) fed
through the real tap -> recorder (parts of `--part` seconds) -> in-process job queue ->
Whisper worker process (niced). Closed parts are transcribed while the café goes on; the
measure starts when the café ends (the last open part is closed and queued) and stops when
every segment is committed. Feeding is faster than real time: the live period is replaced
by waiting for the closed parts' jobs, which a real café (each part lasting `--part` s of
wall time) gives them anyway as long as a part transcribes faster than it lasts (checked
and printed). A 60-minute café differs from this run only in the number of parts already
done, so the end-to-transcript time is extrapolated from the last part.

Run: .venv/bin/python bench/end_to_transcript.py [--minutes 5] [--part 120]
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


def _speak(wav: Path) -> Path:
    subprocess.run(["espeak-ng", "-v", "fr", "-s", "150", "-w", str(wav), TEXT], check=True)
    return wav


async def run(minutes: float, part: float, tmp: Path) -> None:
    from datetime import UTC, datetime

    from sessions.storage.database import Database
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

    wav = await asyncio.to_thread(_speak, tmp / "speech.wav")
    clip = (np.clip(decode_audio(wav), -1, 1) * 32767).astype(np.int16)
    total = int(minutes * 60 * SAMPLE_RATE)
    pcm = np.resize(clip, total)

    db = Database(f"sqlite+aiosqlite:///{tmp / 'c.db'}")
    async with db.engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    now = datetime.now(UTC)
    async with db.transaction() as conn:
        cafe_id = int((await conn.execute(cafes.insert().values(
            slug="bench", title="Les écrans en famille", theme="screens", starts_at=now,
            duration_minutes=60, glossary="jeux vidéo, téléphone", created_at=now,
        ).returning(cafes.c.id))).scalar_one())
    repo = TranscriptRepository(db)
    settings = WhisperSettings(model=resolve_model("", Path("var/models/whisper-base")))
    pool = TranscriberPool(WhisperFactory(settings), nice=10)
    await pool.warm_up()
    jobs = TranscriptJobs(repo, pool)
    queue = LocalJobQueue(jobs)
    done_at: dict[int, float] = {}

    async def timed(cafe: int, recording_id: int) -> None:
        done_at[recording_id] = time.perf_counter()

    jobs.on_done = timed
    recorder = RecorderService(repo, tmp / "rec", on_closed=queue.enqueue,
                               policy=RecorderPolicy(part_seconds=part,
                                                     part_max_seconds=part + 30))
    tap = recorder.open(cafe_id, None, "Dr Martin")
    t_feed = time.perf_counter()
    for i in range(0, total, SAMPLE_RATE):  # 1 s chunks, paced so the recorder keeps up
        tap.push(pcm[i:i + SAMPLE_RATE], i / SAMPLE_RATE)
        await asyncio.sleep(0.002)
    print(f"fed {minutes:.1f} min in {time.perf_counter() - t_feed:.1f} s")
    t_live = time.perf_counter()
    expected = -(-total // int((part + 30) * SAMPLE_RATE)) - 1  # parts closed while live
    for _ in range(600):  # until the recorder has closed (and queued) them
        if len(await repo.jobs(cafe_id)) >= expected:
            break
        await asyncio.sleep(0.1)
    await queue.join()  # the closed parts, transcribed "during the café"
    live_compute = time.perf_counter() - t_live
    closed = await repo.recordings(cafe_id, status=("transcribed",))
    live_audio = sum(r.duration_seconds or 0 for r in closed)

    t_end = time.perf_counter()
    await recorder.close_tap(tap)  # the café ends: the last part is closed and queued
    await queue.join()
    end_to_transcript = time.perf_counter() - t_end
    recs = await repo.recordings(cafe_id)
    segs = await repo.segments(cafe_id)
    last = recs[-1]
    print(f"parts: {len(recs)} ({', '.join(f'{r.duration_seconds:.0f}s' for r in recs)}); "
          f"segments: {len(segs)}; last segment ends at {segs[-1].end:.1f} s")
    if live_audio:
        print(f"during the café: {live_audio:.0f} s of closed parts transcribed in "
              f"{live_compute:.1f} s (RTF {live_compute / live_audio:.3f}; a part of "
              f"{part:.0f} s takes {part * live_compute / live_audio:.1f} s < {part:.0f} s: "
              "the queue keeps up live)")
    last_rtf = end_to_transcript / (last.duration_seconds or 1)
    print(f"end café -> transcript stored: {end_to_transcript:.1f} s for a last part of "
          f"{last.duration_seconds:.0f} s (RTF {last_rtf:.3f})")
    worst = (part + 30) * end_to_transcript / (last.duration_seconds or 1)
    print(f"extrapolated for a 60-minute café: {end_to_transcript:.0f}-{worst:.0f} s after the "
          f"end (last part {last.duration_seconds:.0f}-{part + 30:.0f} s; the 28-29 earlier "
          "parts are done during the café), without live captions competing for the cores")
    await recorder.aclose()
    await queue.aclose()
    await pool.aclose()
    await db.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=5.0)
    ap.add_argument("--part", type=float, default=120.0)
    args = ap.parse_args()
    print(f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} cores, "
          f"python {platform.python_version()}; whisper base int8, beam 5, 2 threads")
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(run(args.minutes, args.part, Path(tmp)))


if __name__ == "__main__":
    main()
