"""Whisper base on this machine: real-time factor, peak RSS, WER; int8/float32, beam 1/5,
with and without the café's vocabulary. Speech is generated with espeak-ng at run time.

Run: .venv/bin/python bench/transcription.py [--threads 2] [--repeat 1]
Each configuration runs in a fresh process (peak RSS is that process's ru_maxrss).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from transcripts.engine import cafe_vocabulary

FRENCH = [
    "Les jeux vidéo en ligne permettent de discuter avec des inconnus.",
    "Le téléphone portable reste hors de la chambre la nuit.",
    "Le cyberharcèlement touche un collégien sur cinq.",
    "Les réseaux sociaux fixent un âge minimum de treize ans.",
    "Parlez avec votre enfant de ce qu'il voit sur internet.",
    "Le contrôle parental ne remplace pas le dialogue en famille.",
    "Les fausses informations circulent très vite sur les écrans.",
    "Il faut signaler un contenu choquant à la plateforme.",
]
ENGLISH = [
    "Online video games let children chat with strangers.",
    "The mobile phone should stay out of the bedroom at night.",
    "Cyber harassment affects one pupil in five.",
    "Social networks set a minimum age of thirteen.",
    "Talk with your child about what they see on the internet.",
    "Parental controls do not replace a conversation in the family.",
    "Fake news spreads very quickly on screens.",
    "Report shocking content to the platform.",
]
# The café's words as the product builds them (transcripts.engine.cafe_vocabulary).
VOCABULARY = cafe_vocabulary(
    "Les écrans en famille",
    "Réseaux sociaux, contrôle parental et fausses informations : parlons-en.",
    "jeux vidéo; téléphone portable; cyberharcèlement; plateforme")


def norm(s: str) -> list[str]:
    return re.sub(r"[^\w' ]+", " ", s.lower().replace("-", " ")).split()


def wer(ref: str, hyp: str) -> float:
    r, h = norm(ref), norm(hyp)
    d = list(range(len(h) + 1))
    for i, a in enumerate(r, 1):
        prev, d[0] = d[0], i
        for j, b in enumerate(h, 1):
            prev, d[j] = d[j], min(d[j] + 1, d[j - 1] + 1, prev + (a != b))
    return d[len(h)] / max(1, len(r))


def make_audio(folder: Path, voice: str, sentences: list[str], repeat: int) -> Path:
    text = " ".join(sentences * repeat)
    path = folder / f"{voice}.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-s", "150", "-w", str(path), text], check=True)
    return path


def run_one(model: str, threads: int, compute: str, beam: int, path: str, language: str,
            prompt: str | None, hotwords: str | None,
            out: multiprocessing.queues.Queue) -> None:  # type: ignore[type-arg]
    from transcripts.engine import (
        TranscribeOptions,
        WhisperSettings,
        WhisperTranscriber,
        decode_audio,
    )

    audio = decode_audio(Path(path))
    t = WhisperTranscriber(WhisperSettings(model=model, compute_type=compute,
                                           cpu_threads=threads, beam_size=beam))
    start = time.perf_counter()
    t.load()
    load = time.perf_counter() - start
    start = time.perf_counter()
    segs = t.transcribe(audio, TranscribeOptions(language=language, prompt=prompt,
                                                 hotwords=hotwords, long_form=True,
                                                 word_timestamps=True))
    took = time.perf_counter() - start
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out.put((load, took, len(audio) / 16000, rss, " ".join(s.text for s in segs)))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=2, help="how many times the sentence set")
    args = ap.parse_args()
    from transcripts.model import resolve_model

    model = resolve_model("", Path("var/models/whisper-base"))
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text()
                .splitlines() if line.startswith("model name")), platform.processor())
    print(f"machine: {platform.node()} {cpu}, {os.cpu_count()} cores, "
          f"python {platform.python_version()}, threads={args.threads}")
    ctx = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory() as tmp:
        fr = make_audio(Path(tmp), "fr", FRENCH, args.repeat)
        en = make_audio(Path(tmp), "en", ENGLISH, args.repeat)
        configs = [
            ("en", en, ENGLISH, "int8", 5, None, None),
            ("en", en, ENGLISH, "int8", 1, None, None),
            ("en", en, ENGLISH, "float32", 5, None, None),
            ("fr", fr, FRENCH, "int8", 5, None, None),
            ("fr", fr, FRENCH, "int8", 1, None, None),
            ("fr", fr, FRENCH, "float32", 5, None, None),
            ("fr", fr, FRENCH, "int8", 5, VOCABULARY, None),
            ("fr", fr, FRENCH, "int8", 5, None, VOCABULARY),
        ]
        print(f"{'lang':4} {'compute':8} {'beam':>4} {'vocabulary':14} {'audio s':>7} "
              f"{'load s':>6} {'RTF':>6} {'RSS MB':>7} {'WER':>6}")
        for lang, path, sentences, compute, beam, prompt, hot in configs:
            q = ctx.Queue()
            p = ctx.Process(target=run_one, args=(model, args.threads, compute, beam,
                                                  str(path), lang, prompt, hot, q))
            p.start()
            load, took, seconds, rss, text = q.get()
            p.join()
            vocab = "initial_prompt" if prompt else "hotwords" if hot else "-"
            print(f"{lang:4} {compute:8} {beam:>4} {vocab:14} {seconds:7.1f} {load:6.2f} "
                  f"{took / seconds:6.3f} {rss:7.0f} "
                  f"{wer(' '.join(sentences * args.repeat), text):6.3f}", flush=True)


if __name__ == "__main__":
    main()
