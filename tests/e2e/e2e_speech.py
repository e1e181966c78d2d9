"""Spoken French for an expert's fake microphone, with the moments it is spoken, and the page
hook that tells when Chromium began reading it.

Café time of a sentence = (when getUserMedia resolved in the expert's page, which is when
Chromium starts reading the fake-microphone file) - (the café's `opened_at`, the server's own
clock) + (the sentence's onset in the WAV). Both clocks are this machine's wall clock.
"""

from __future__ import annotations

import subprocess
import wave
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from e2e_harness import CHROMIUM_FLAGS, Namespace
from playwright.sync_api import Browser, Playwright

RATE = 48_000
LEAD_SILENCE = 1.5  # s: the fake microphone starts before media reaches the server

# When the expert's page got its microphone (Date.now(), ms), kept on window.__micStartedAt.
MIC_HOOK = """
(() => {
  const md = navigator.mediaDevices;
  if (!md || !md.getUserMedia) return;
  const original = md.getUserMedia.bind(md);
  md.getUserMedia = async (constraints) => {
    const stream = await original(constraints);
    // The microphone's start (the expert's camera preview asks for video alone, earlier).
    if (constraints && constraints.audio && window.__micStartedAt === undefined) {
      window.__micStartedAt = Date.now();
    }
    return stream;
  };
})();
"""


@dataclass(frozen=True)
class Speech:
    path: Path
    onsets: tuple[float, ...]  # s into the file where each sentence's sound starts
    duration: float


def _espeak(text: str, directory: Path, index: int, speed: int,
            ) -> np.ndarray[Any, np.dtype[np.int16]]:
    raw = directory / f"s{index}-raw.wav"
    resampled = directory / f"s{index}.wav"
    subprocess.run(["espeak-ng", "-v", "fr", "-s", str(speed), "-w", str(raw), text],
                   check=True, capture_output=True)
    subprocess.run(["sox", str(raw), "-r", str(RATE), "-c", "1", "-b", "16", str(resampled)],
                   check=True, capture_output=True)
    with wave.open(str(resampled), "rb") as w:
        return np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)


def sentences_wav(directory: Path, sentences: Sequence[str], *, pause: float,
                  speed: int = 150) -> Speech:
    """The sentences spoken one after another (espeak-ng, 48 kHz mono), ``pause`` seconds
    apart, after `LEAD_SILENCE`; each onset is where its sound rises above the silence."""
    parts: list[np.ndarray[Any, np.dtype[np.int16]]] = [
        np.zeros(int(LEAD_SILENCE * RATE), np.int16)]
    onsets: list[float] = []
    position = len(parts[0])
    gap = np.zeros(int(pause * RATE), np.int16)
    for index, text in enumerate(sentences):
        samples = _espeak(text, directory, index, speed)
        loud = np.flatnonzero(np.abs(samples.astype(np.int32)) > 500)
        onsets.append((position + (int(loud[0]) if len(loud) else 0)) / RATE)
        parts += [samples, gap]
        position += len(samples) + len(gap)
    audio = np.concatenate(parts)
    path = directory / "speech.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(audio.tobytes())
    return Speech(path, tuple(onsets), len(audio) / RATE)


@contextmanager
def speaking_chromium(playwright: Playwright, namespace: Namespace, directory: Path,
                      speech: Speech) -> Iterator[Browser]:
    """A Chromium whose fake microphone plays ``speech`` once (no loop)."""
    browser = playwright.chromium.launch(
        executable_path=namespace.chromium_executable(directory), headless=True,
        args=[*CHROMIUM_FLAGS, f"--use-file-for-fake-audio-capture={speech.path}%noloop"])
    try:
        yield browser
    finally:
        browser.close()
