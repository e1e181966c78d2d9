"""Live caption latency: real French speech, real CaptionService, default model, real time.

espeak-ng speaks a list of French phrases separated by pauses; the audio is fed as a live tap
does (16 kHz mono, 20 ms chunks, each pushed when its last sample has been "spoken", paced by
the clock) into the same `CaptionService` the runtime builds (`transcripts.runtime
.caption_service`: worker process at the caption priority, Silero VAD, the caption window
policy). The end of each spoken phrase is known from the generated audio (its last sample
above -45 dBFS); a phrase's latency is the wall time from that moment to the emission of the
caption covering it (the final caption of the phrase, not a partial one). A phrase with no
caption covering its end counts as missed.

`--load final` runs a final-transcript job on the final-job pool (nice 15) in a loop while
the captions run, as during a real café when a closed part is transcribed.

Run: .venv/bin/python bench/captions.py [--rounds 2] [--pause 1.2] [--load none|final]
     .venv/bin/python bench/captions.py --under-load [--configs plain,before,tuned]
       (the whole server, quiet then loaded: see bench/captions_load.py and bench/README.md)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.transcription import FRENCH, VOCABULARY, norm

GLOSSARY = ("jeux vidéo, téléphone portable, cyberharcèlement, réseaux sociaux, contrôle "
            "parental, fausses informations, plateforme")
RATE = 16_000
CHUNK = 320  # 20 ms
LONG = ("Quand votre enfant reçoit son premier téléphone portable, fixez ensemble des règles "
        "claires sur les heures d'usage, les applications autorisées et les endroits de la "
        "maison où les écrans restent éteints, puis revoyez ces règles chaque année.")


@dataclass(frozen=True)
class Phrase:
    text: str
    start: float  # seconds into the fed audio: first sample above the threshold
    end: float  # last sample above the threshold


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def speak(text: str, path: Path) -> npt.NDArray[np.int16]:
    from transcripts.engine import decode_audio

    subprocess.run(["espeak-ng", "-v", "fr", "-s", "150", "-w", str(path), text], check=True)
    return (np.clip(decode_audio(path), -1, 1) * 32767).astype(np.int16)


def voiced_bounds(pcm: npt.NDArray[np.int16], threshold_db: float = -45.0) -> tuple[int, int]:
    """First and last sample of the 10 ms blocks louder than `threshold_db` dBFS."""
    block = RATE // 100
    n = len(pcm) // block
    x = pcm[: n * block].astype(np.float64).reshape(n, block) / 32768
    rms = np.sqrt(np.mean(x**2, axis=1))
    loud = np.flatnonzero(20 * np.log10(rms + 1e-12) > threshold_db)
    return int(loud[0] * block), int((loud[-1] + 1) * block)


def build(texts: list[str], pause: float, tmp: Path) -> tuple[npt.NDArray[np.int16],
                                                              list[Phrase]]:
    """The phrases, each trimmed to its voiced part and followed by `pause` s of silence."""
    parts = [np.zeros(RATE, np.int16)]  # one second before the first phrase
    phrases: list[Phrase] = []
    at = RATE
    for i, text in enumerate(texts):
        pcm = speak(text, tmp / f"p{i}.wav")
        first, last = voiced_bounds(pcm)
        pcm = pcm[first:last]
        phrases.append(Phrase(text, at / RATE, (at + len(pcm)) / RATE))
        parts += [pcm, np.zeros(int(pause * RATE), np.int16)]
        at += len(pcm) + int(pause * RATE)
    parts.append(np.zeros(2 * RATE, np.int16))
    return np.concatenate(parts), phrases


async def final_job_loop(settings: Any, wav: Path, stop: asyncio.Event) -> int:
    """Transcribe `wav` again and again on a final-job pool (its priority), until `stop`."""
    from transcripts.engine import TranscribeOptions, TranscriberPool, WhisperFactory
    from transcripts.runtime import JOBS_NICE

    pool = TranscriberPool(WhisperFactory(settings), nice=JOBS_NICE)
    runs = 0
    try:
        await pool.warm_up()
        while not stop.is_set():
            await pool.transcribe(str(wav), TranscribeOptions(
                language="fr", hotwords=VOCABULARY, long_form=True, word_timestamps=True))
            runs += 1
    finally:
        await pool.aclose()
    return runs


async def run(args: argparse.Namespace, tmp: Path) -> list[float]:
    from transcripts.caption_lines import CaptionLine, CaptionMessage
    from transcripts.captions import caption_prompt
    from transcripts.engine import WhisperSettings
    from transcripts.model import resolve_model
    from transcripts.runtime import caption_service

    texts = (FRENCH * args.rounds)[: args.phrases or None]
    if args.long:
        texts = [*texts[:2], LONG, *texts[2:]]
    pcm, phrases = await asyncio.to_thread(build, texts, args.pause, tmp)
    settings = WhisperSettings(model=resolve_model("", Path("var/models/whisper-base")))
    emitted: list[tuple[float, dict[str, Any]]] = []

    async def emit(message: CaptionMessage) -> None:
        if isinstance(message, CaptionLine):
            emitted.append((time.perf_counter(), message.payload()))

    service, pool = await caption_service(settings, emit)
    service.configure_cafe(1, "fr", caption_prompt("Les écrans en famille", GLOSSARY))
    stop = asyncio.Event()
    load: asyncio.Task[int] | None = None
    if args.load == "final":
        wav = tmp / "final.wav"
        await asyncio.to_thread(speak, " ".join(FRENCH[:4]), wav)
        load = asyncio.create_task(final_job_loop(settings, wav, stop))
        await asyncio.sleep(8)  # its model loaded and a job under way
    stream = service.open(1, "Dr Martin")
    print(f"feeding {len(pcm) / RATE:.0f} s of speech in real time: {len(phrases)} phrases, "
          f"pauses of {args.pause:.1f} s; load average {loadavg()}", flush=True)
    t0 = time.perf_counter()
    for i in range(0, len(pcm), CHUNK):
        due = t0 + (i + CHUNK) / RATE  # the chunk's last sample has been spoken
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        stream.push(pcm[i:i + CHUNK], i / RATE)
    stream.close()
    for _ in range(200):  # the last captions
        if service.idle():
            break
        await asyncio.sleep(0.05)
    stop.set()
    runs = await load if load is not None else 0
    await service.aclose()
    await pool.aclose()

    latencies: list[float] = []
    print(f"{'phrase':>6} {'end s':>6} {'latency':>7} {'partials':>8}  caption")
    for n, phrase in enumerate(phrases):
        covering = [(at, c) for at, c in emitted
                    if c["start"] <= phrase.end <= c["end"] + 0.05 and c.get("final", True)]
        partials = sum(1 for _, c in emitted if not c.get("final", True)
                       and phrase.start - 0.3 <= c["start"] <= phrase.end)
        if not covering:
            print(f"{n:>6} {phrase.end:6.1f} {'missed':>7} {partials:>8}  ({phrase.text})")
            continue
        at, caption = covering[0]
        latency = at - (t0 + phrase.end)
        latencies.append(latency)
        print(f"{n:>6} {phrase.end:6.1f} {latency:6.2f}s {partials:>8}  {caption['text']}")
    heard = norm(" ".join(c["text"] for _, c in emitted if c.get("final", True)))
    spoken = norm(" ".join(texts))
    recall = sum(1 for w in set(spoken) if w in set(heard)) / max(1, len(set(spoken)))
    print(f"captions: {len(emitted)} ({sum(1 for _, c in emitted if not c.get('final', True))} "
          f"partial), dropped {service.dropped}, missed phrases "
          f"{len(phrases) - len(latencies)}, prompt echoes dropped {service.echoes}; "
          f"spoken words found in captions: {recall:.0%}"
          + (f"; final jobs run alongside: {runs}" if load is not None else ""))
    if latencies:
        q = statistics.quantiles(latencies, n=20, method="inclusive") if len(latencies) > 1 \
            else [latencies[0]] * 19
        print(f"latency end of phrase -> caption: p50 {statistics.median(latencies):.2f} s, "
              f"p95 {q[18]:.2f} s, max {max(latencies):.2f} s (n={len(latencies)}); "
              f"load average {loadavg()}")
    return latencies


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=2, help="times the 8 phrases")
    ap.add_argument("--phrases", type=int, default=0, help="at most this many (0: all)")
    ap.add_argument("--pause", type=float, default=1.2, help="silence between phrases, s")
    ap.add_argument("--long", action="store_true", help="add a 12 s phrase (partials)")
    ap.add_argument("--load", choices=["none", "final"], default="none")
    ap.add_argument("--under-load", action="store_true",
                    help="through the whole server, quiet then with 100 media subscribers, "
                    "500 sockets and a final transcription (bench/captions_load.py)")
    ap.add_argument("--configs", default="plain,before,tuned",
                    help="with --under-load: caption configurations, in order")
    ap.add_argument("--media", type=int, default=100, help="with --under-load")
    ap.add_argument("--sockets", type=int, default=500, help="with --under-load")
    ap.add_argument("--job-lead", type=float, default=8.0,
                    help="with --under-load: seconds the final job runs before the speech")
    ap.add_argument("--quiet-only", action="store_true", help="with --under-load: no load")
    args = ap.parse_args()
    from transcripts.captions import CaptionSettings
    from transcripts.runtime import JOBS_NICE

    captions = CaptionSettings()
    print(f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} cores, "
          f"python {platform.python_version()}; whisper base int8; {captions}; final jobs "
          f"nice {JOBS_NICE}; load average {loadavg()}")
    if args.under_load:
        from bench.captions_load import main as loaded

        loaded(args)
        return
    with tempfile.TemporaryDirectory() as tmp, contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run(args, Path(tmp)))


if __name__ == "__main__":
    main()
