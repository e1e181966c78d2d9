"""Helpers for the transcripts tests: espeak-ng speech, a SQLite database with a café."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import numpy.typing as npt

from sessions.storage.database import Database
from sessions.storage.tables import cafes, metadata

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
    db = Database(f"sqlite+aiosqlite:///{tmp / 'causerie.db'}")
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
            slug=slug, title=title, description="Un café sur les écrans.", theme="screens",
            language=language, starts_at=now, duration_minutes=60, status="live",
            glossary=glossary, opened_at=now, created_at=now).returning(cafes.c.id))
        return int(result.scalar_one())
