"""Helpers for the transcripts tests: espeak-ng speech, a SQLite database with a café."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from sessions.storage.database import Database
from sessions.storage.repo_associations import first_association_id
from sessions.storage.tables import cafes, metadata
from transcripts.search import open_database

HAVE_ESPEAK = shutil.which("espeak-ng") is not None


def speak(text: str, voice: str, path: Path, lead_silence: float = 0.0) -> Path:
    """A WAV of espeak-ng speaking `text` (16 kHz mono after decoding), made at test time."""
    raw = path.with_suffix(".raw.wav")
    subprocess.run(["espeak-ng", "-v", voice, "-s", "150", "-w", str(raw), text], check=True)
    if lead_silence:
        subprocess.run(["sox", str(raw), "-r", "16000", str(path), "pad",
                        str(lead_silence), "0"], check=True)
        raw.unlink()
    else:
        raw.rename(path)
    return path


def make_silence(path: Path, seconds: float) -> Path:
    subprocess.run(["sox", "-n", "-r", "16000", "-c", "1", str(path), "trim", "0",
                    str(seconds)], check=True)
    return path


def speech_pcm(text: str, voice: str, tmp: Path) -> npt.NDArray[np.int16]:
    from transcripts.engine import decode_audio

    audio = decode_audio(speak(text, voice, tmp / f"{abs(hash(text))}.wav"))
    return (np.clip(audio, -1, 1) * 32767).astype(np.int16)


def wer(reference: str, hypothesis: str) -> float:
    def norm(s: str) -> list[str]:
        return re.sub(r"[^\w' ]+", " ", s.lower()).split()

    ref, hyp = norm(reference), norm(hypothesis)
    d = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, d[0] = d[0], i
        for j, h in enumerate(hyp, 1):
            prev, d[j] = d[j], min(d[j] + 1, d[j - 1] + 1, prev + (r != h))
    return d[len(hyp)] / max(1, len(ref))


async def open_db(tmp: Path) -> AsyncIterator[Database]:
    db = open_database(f"sqlite+aiosqlite:///{tmp / 'causerie.db'}")
    async with db.engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    try:
        yield db
    finally:
        await db.close()


async def add_cafe(db: Database, slug: str = "ecrans", title: str = "Les écrans en famille",
                   glossary: str = "jeux vidéo, téléphone, réseaux sociaux",
                   language: str = "fr") -> int:
    now = datetime.now(UTC)
    async with db.transaction() as conn:
        result = await conn.execute(cafes.insert().values(
            association_id=await first_association_id(conn),
            slug=slug, title=title, description="Un café sur les écrans.", theme="screens",
            language=language, starts_at=now, duration_minutes=60, status="live",
            glossary=glossary, opened_at=now, created_at=now).returning(cafes.c.id))
        return int(result.scalar_one())


def tone_pcm(seconds: float, amp: float = 0.3) -> npt.NDArray[np.int16]:
    t = np.arange(int(seconds * 16000)) / 16000
    return (np.sin(2 * np.pi * 220 * t) * amp * 32767).astype(np.int16)


async def add_recordings(db: Database, cafe_id: int, folder: Path, count: int,
                         seconds: float = 1.0) -> list[int]:
    """`count` closed recordings (Ogg/Opus tones) of the café, one a minute, in order."""
    from transcripts.recorder import PartClosed, SpeakerRecorder
    from transcripts.repository import TranscriptRepository

    repo = TranscriptRepository(db)
    ids = []
    for n in range(count):
        rec = SpeakerRecorder(folder, f"speaker {n}")
        rec.push(tone_pcm(seconds), 60.0 * n)
        (closed,) = [e for e in rec.close() if isinstance(e, PartClosed)]
        rid = await repo.create_recording(cafe_id, None, f"Speaker {n}", str(closed.path),
                                          closed.offset)
        await repo.close_recording(rid, closed.duration)
        ids.append(rid)
    return ids


class ScriptedTranscriber:
    """A fake Whisper: two segments per file after `delay` seconds (a blocking sleep, as the
    real one blocks its thread); counts its calls in `calls`."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.calls = 0

    def transcribe(self, audio: Any, options: Any, progress: Any = None) -> list[Any]:
        import time

        from transcripts.engine import Segment

        self.calls += 1
        if self.delay:
            time.sleep(self.delay)
        return [Segment(0.1, 0.5, "", "bonjour"), Segment(0.5, 0.9, "", "les écrans")]


def phrases_with_pauses(texts: list[str], tmp: Path, pause: float = 1.2
                        ) -> tuple[npt.NDArray[np.int16], list[float]]:
    """espeak-ng French phrases, each trimmed to its voiced part and followed by `pause` s of
    silence (1 s before the first); returns the audio and each phrase's end (seconds)."""
    parts = [np.zeros(16000, np.int16)]
    ends = []
    at = 16000
    for text in texts:
        pcm = speech_pcm(text, "fr", tmp)
        n = len(pcm) // 160
        blocks = pcm[: n * 160].astype(np.float64).reshape(n, 160) / 32768
        loud = np.flatnonzero(20 * np.log10(np.sqrt(np.mean(blocks**2, axis=1)) + 1e-12) > -45)
        pcm = pcm[loud[0] * 160:(loud[-1] + 1) * 160]
        ends.append((at + len(pcm)) / 16000)
        parts += [pcm, np.zeros(int(pause * 16000), np.int16)]
        at += len(pcm) + int(pause * 16000)
    parts.append(np.zeros(2 * 16000, np.int16))
    return np.concatenate(parts), ends


def write_wav_file(path: Path, audio: npt.NDArray[np.float32]) -> Path:
    """16 kHz mono 16-bit WAV of float audio."""
    import wave

    pcm = (np.clip(audio, -1, 1) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes(pcm.tobytes())
    return path
