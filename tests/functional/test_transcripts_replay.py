"""The café's replay: once every part is transcribed, the parts are mixed at their café
offsets into one file, and the transcript page's player plays that timeline."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import sqlalchemy as sa

from sessions.storage.repo_associations import first_association_id
from sessions.storage.tables import cafes
from transcripts.engine import (
    SAMPLE_RATE,
    Segment,
    TranscribeOptions,
    TranscriberPool,
    decode_audio,
)
from transcripts.export import load_transcript
from transcripts.jobs import TranscriptJobs
from transcripts.recorder import OggOpusWriter
from transcripts.repository import TranscriptRepository
from transcripts.search import open_database


class OneSegment:
    def transcribe(self, audio: object, options: TranscribeOptions,
                   progress: object = None) -> list[Segment]:
        return [Segment(0.0, 1.0, "", "bonjour", ())]


def part(path: Path, seconds: float) -> Path:
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    writer = OggOpusWriter(path)
    writer.write((np.sin(2 * np.pi * 440 * t) * 12000).astype(np.int16))
    writer.close()
    return path


def loudness(audio: np.ndarray, at: float) -> float:
    window = audio[int(at * SAMPLE_RATE): int((at + 0.5) * SAMPLE_RATE)]
    return float(np.sqrt(np.mean(window.astype(np.float64) ** 2)))


async def test_parts_become_one_timeline_when_the_transcript_is_complete(
        sqlite_url: str, tmp_path: Path) -> None:
    db = open_database(sqlite_url)
    try:
        now = dt.datetime.now(dt.UTC)
        async with db.transaction() as conn:
            cafe_id = int(await conn.scalar(cafes.insert().values(
            association_id=await first_association_id(conn),
                slug="c", title="Écrans", theme="screens", starts_at=now, duration_minutes=60,
                status="live", created_at=now, transcript_published=False)
                .returning(cafes.c.id)))
        repo = TranscriptRepository(db)
        ids = []
        for name, offset in (("a", 0.0), ("b", 130.0)):
            rid = await repo.create_recording(cafe_id, None, "Dr Martin",
                                              str(part(tmp_path / f"{name}.ogg", 3.0)), offset)
            await repo.close_recording(rid, 3.0)
            ids.append(rid)
        jobs = TranscriptJobs(repo, TranscriberPool(OneSegment, processes=False),
                              replay_dir=tmp_path / "recordings")
        await jobs.run(ids[0])
        await jobs.run(ids[1])
        assert not (tmp_path / "recordings").exists()  # still live: no replay yet

        async with db.transaction() as conn:
            await conn.execute(sa.update(cafes).values(status="ended",
                                                       transcript_published=True))
        await jobs.refresh_replay(cafe_id)
        transcript = await load_transcript(db, "c")
        assert transcript.recording is not None
        replay = Path(transcript.recording.path)
        assert replay == tmp_path / "recordings" / str(cafe_id) / "replay.ogg"
        assert transcript.recording.offset == 0.0
        assert transcript.recording.duration is not None
        assert abs(transcript.recording.duration - 133.0) < 0.1
        audio = decode_audio(replay)
        assert loudness(audio, 1.0) > 0.1 and loudness(audio, 131.0) > 0.1
        assert loudness(audio, 60.0) < 0.01  # the gap between the parts stays silent
        # The replay is never transcribed itself, and a rebuild replaces it.
        await jobs.refresh_replay(cafe_id)
        rows = await repo.recordings(cafe_id)
        assert [r.status for r in rows].count("replay") == 1
    finally:
        await db.close()
