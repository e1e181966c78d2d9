"""The final transcription on a realistic speech set, beside plain faster-whisper.

The set is generated at run time (tests/functional/speech_set.py: espeak-ng voices and
speeds, a noise floor, reverb, a reverberant noisy room, a telephone band, a music bed, two
speakers overlapping; French and English, each file with its reference words and their
moments). For every file, in the same process and with the same model:

- `plain`: `WhisperModel.transcribe(audio, language=..., vad_filter=True, beam_size=5)`,
  faster-whisper's defaults otherwise (the language is given to both);
- `product (words=...)`: `transcripts.parts.transcribe_part`, as a job runs it, with the
  café's words passed as hotwords, as initial prompt, or not at all.

It prints per file WER, coverage (share of the spoken seconds inside the transcript's
segments), recall (share of the reference words found) and real-time factor, plus what the
product's check did (chunks retried, fallbacks, repeats cut, part marked short), and the
load averages before and after (the machine is shared).

Run: .venv/bin/python bench/transcription.py [--words none,prompt,hotwords]
     [--languages fr,en] [--conditions clean,noise,...] [--threads 2]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import re
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "functional"))

import speech_set  # noqa: E402

from transcripts.engine import (  # noqa: E402
    TranscribeOptions,
    WhisperSettings,
    WhisperTranscriber,
    cafe_vocabulary,
)
from transcripts.parts import (  # noqa: E402
    FIRST_PASS,
    FIRST_PASSES,
    Pace,
    SileroDetector,
    transcribe_part,
)

# The word-list café of issue 10: a glossary of names and numbers, an ordinary description.
VOCABULARY = cafe_vocabulary(
    "Cyber-harcèlement : en parler avec ses enfants",
    "Une psychologue répond à vos questions sur le harcèlement en ligne : reconnaître les "
    "signes, en parler, agir avec l'école.",
    "3018, Snapchat, WhatsApp, e-Enfance")

# The sentence sets and measures other benchmarks (captions, end_to_transcript) take from
# here; the speech set has its own, spoken by several voices.
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
ENGLISH = speech_set.ENGLISH


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


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


@dataclasses.dataclass
class Row:
    name: str
    way: str
    wer: float
    coverage: float
    recall: float
    rtf: float
    notes: str = ""
    terms: float | None = None  # the café's terms spelled right (the terms sentences)


def measure(sample: speech_set.Sample, way: str, segments: list[Any], took: float,
            notes: str = "") -> Row:
    text = " ".join(s.text for s in segments)
    spans = [(float(s.start), float(s.end)) for s in segments]
    return Row(sample.name, way, speech_set.wer(sample.text, text),
               speech_set.coverage(sample, spans), speech_set.recall(sample.text, text),
               took / sample.duration, notes, speech_set.term_recall(sample.text, text))


def plain(model: Any, sample: speech_set.Sample) -> Row:
    start = time.perf_counter()
    segments, _ = model.transcribe(sample.audio, language=sample.language, vad_filter=True,
                                   beam_size=5)
    found = list(segments)
    return measure(sample, "plain", found, time.perf_counter() - start)


def product(transcriber: WhisperTranscriber, sample: speech_set.Sample, words: str,
            pace: Pace, first: str) -> Row:
    options = TranscribeOptions(
        language=sample.language, long_form=True, word_timestamps=True,
        hotwords=VOCABULARY if words == "hotwords" else None,
        prompt=VOCABULARY if words == "prompt" else None)
    start = time.perf_counter()
    result = transcribe_part(transcriber, sample.audio, options, SileroDetector(), pace=pace,
                             first=FIRST_PASSES[first])
    took = time.perf_counter() - start
    r = result.report
    notes = (f"chunks {r.chunks} retried {r.retried} fallbacks {r.fallbacks} "
             f"cut {r.repetitions_cut} degraded {r.degraded} "
             f"check {100 * r.coverage:.0f}%{' SHORT' if r.short else ''}")
    return measure(sample, f"product ({words}, {first})", result.segments, took, notes)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--term-conditions", default="clean,noise,phone",
                    help="conditions of the sentences that say the café's terms ('' none)")
    ap.add_argument("--words", default="none,prompt,hotwords",
                    help="ways of passing the café's words to the product")
    ap.add_argument("--first", default=FIRST_PASS.name,
                    help=f"first passes of the product ({', '.join(FIRST_PASSES)})")
    ap.add_argument("--languages", default="fr,en")
    ap.add_argument("--conditions", default=",".join(speech_set.CONDITIONS))
    args = ap.parse_args()
    from transcripts.model import resolve_model

    model_dir = resolve_model("", ROOT / "var" / "models" / "whisper-base")
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text()
                .splitlines() if line.startswith("model name")), platform.processor())
    print(f"machine: {platform.node()} {cpu}, {os.cpu_count()} cores, "
          f"python {platform.python_version()}, threads={args.threads}, base int8, beam 5")
    print(f"load average before: {load()}")
    print(f"café words: {VOCABULARY}")
    transcriber = WhisperTranscriber(WhisperSettings(model=model_dir,
                                                     cpu_threads=args.threads))
    model = transcriber.load()
    ways = [(w, f) for w in args.words.split(",") if w for f in args.first.split(",") if f]
    # One pace per way, carried from file to file as a worker carries it from part to part.
    paces = {w: Pace() for w in ways}
    rows: list[Row] = []
    header = (f"{'file':18} {'way':26} {'WER':>5} {'cover':>6} {'recall':>6} {'terms':>5} "
              f"{'RTF':>5}  check")
    print(header)
    print("-" * len(header))
    samples: list[tuple[str, str, list[str] | None]] = [
        (lang, cond, None) for lang in args.languages.split(",")
        for cond in args.conditions.split(",") if cond]
    samples += [(lang, cond, speech_set.FRENCH_TERMS if lang == "fr"
                 else speech_set.ENGLISH_TERMS) for lang in args.languages.split(",")
                for cond in args.term_conditions.split(",") if cond]
    for lang, cond, sentences in samples:
        sample = speech_set.make_sample(lang, cond, sentences)
        if sentences is not None:
            sample = dataclasses.replace(sample, name=f"{sample.name}+terms")
        found = [plain(model, sample)] + [product(transcriber, sample, w, paces[w, f], f)
                                          for w, f in ways]
        for row in found:
            terms = "-" if row.terms is None else f"{row.terms:.2f}"
            print(f"{row.name:18} {row.way:26} {row.wer:5.2f} {100 * row.coverage:5.1f}% "
                  f"{row.recall:6.2f} {terms:>5} {row.rtf:5.2f}  {row.notes}", flush=True)
        rows += found
    print("-" * len(header))
    for way in ["plain"] + [f"product ({w}, {f})" for w, f in ways]:
        mine = [r for r in rows if r.way == way]
        said = [r.terms for r in mine if r.terms is not None]
        terms = f"{statistics.mean(said):.2f}" if said else "-"
        print(f"{'all':18} {way:26} {statistics.mean(r.wer for r in mine):5.2f} "
              f"{100 * min(r.coverage for r in mine):5.1f}% "
              f"{statistics.mean(r.recall for r in mine):6.2f} {terms:>5} "
              f"{max(r.rtf for r in mine):5.2f}  (mean WER, min coverage, mean recall, "
              "mean terms, max RTF)")
    print(f"load average after: {load()}")


if __name__ == "__main__":
    main()
