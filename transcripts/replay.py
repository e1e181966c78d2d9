"""The café's replay: every speaker's recorded parts mixed at their café offsets into one
Ogg/Opus timeline, so the transcript page's single player can play any moment (a café of an
hour is some 30 parts per speaker)."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from transcripts.engine import SAMPLE_RATE, decode_audio
from transcripts.errors import InvalidAudio
from transcripts.recorder import OggOpusWriter

log = logging.getLogger("causerie.transcripts")

REPLAY_SPEAKER = ""  # a replay row is nobody's speech: it is never transcribed
REPLAY_STATUS = "replay"
MAX_SECONDS = 6 * 3600


Span = tuple[float, float]  # café seconds, start and end


def build_replay(parts: Sequence[tuple[Path, float]], out: Path,
                 silence: Sequence[Span] = ()) -> float:
    """Mix `(path, café offset seconds)` parts into `out`, the `silence` stretches (redacted
    speech) zeroed; return its duration in seconds.

    Blocking (decode and encode): run it in a thread. Parts that cannot be decoded are left
    out (their stretch stays silent). Written under a temporary name, then renamed."""
    decoded: list[tuple[np.ndarray, int]] = []
    end = 0
    for path, offset in parts:
        try:
            audio = decode_audio(path)
        except (InvalidAudio, OSError, ValueError) as exc:
            log.warning("replay leaves out path=%s: %s", path, exc)
            continue
        start = max(0, round(offset * SAMPLE_RATE))
        decoded.append((audio, start))
        end = max(end, start + len(audio))
    end = min(end, MAX_SECONDS * SAMPLE_RATE)
    timeline = np.zeros(end, dtype=np.float32)
    for audio, start in decoded:
        stop = min(end, start + len(audio))
        if stop > start:
            timeline[start:stop] += audio[: stop - start]
    np.clip(timeline, -1.0, 1.0, out=timeline)
    _write(timeline, out, silence)
    return end / SAMPLE_RATE


def silence_replay(path: Path, silence: Sequence[Span]) -> float:
    """Zero the `silence` stretches of an existing replay file in place (when the parts it
    was mixed from are gone); return its duration. Blocking."""
    timeline = decode_audio(path)
    _write(timeline, path, silence)
    return len(timeline) / SAMPLE_RATE


def _write(timeline: np.ndarray, out: Path, silence: Sequence[Span]) -> None:
    end = len(timeline)
    for start, stop in silence:
        lo, hi = max(0, int(start * SAMPLE_RATE)), min(end, int(np.ceil(stop * SAMPLE_RATE)))
        if hi > lo:
            timeline[lo:hi] = 0.0
    tmp = out.with_name(f".{out.name}.tmp")
    writer = OggOpusWriter(tmp, bitrate=32_000, page_seconds=1.0)
    step = SAMPLE_RATE * 10
    for i in range(0, end, step):
        writer.write((timeline[i:i + step] * 32767).astype(np.int16))
    writer.close()
    os.replace(tmp, out)
