"""A realistic speech set, generated at run time with espeak-ng (its library, for the moment
each word is spoken) and sox (room effects): several voices and speeds, a room noise floor,
reverb, a telephone band, a music bed, two speakers briefly overlapping, French and English.

Each `Sample` carries its 16 kHz audio, its reference text and the (start, end) of every
reference word in the file, so a benchmark or a test can say which spoken seconds a
transcript covers and where a part may be cut (see /work/shared/notes/realistic-audio.md).
Used by `bench/transcription.py` and the Whisper tests; nothing here is product code.
"""

from __future__ import annotations

import ctypes
import functools
import shutil
import subprocess
import tempfile
import wave
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

RATE = 16_000
Audio = npt.NDArray[np.float32]
HAVE_TOOLS = shutil.which("sox") is not None and shutil.which("espeak-ng") is not None

FRENCH = [
    "Les jeux vidéo en ligne permettent de discuter avec des inconnus.",
    "Le téléphone portable reste hors de la chambre la nuit.",
    "Le harcèlement touche un collégien sur cinq.",
    "Les réseaux sociaux fixent un âge minimum de treize ans.",
    "Parlez avec votre enfant de ce qu'il voit sur internet.",
    "Le contrôle parental ne remplace pas le dialogue en famille.",
    "Les fausses informations circulent très vite sur les écrans.",
    "Il faut signaler un contenu choquant à la plateforme.",
]
ENGLISH = [
    "Online video games let children chat with strangers.",
    "The mobile phone should stay out of the bedroom at night.",
    "Harassment affects one pupil in five.",
    "Social networks set a minimum age of thirteen.",
    "Talk with your child about what they see on the internet.",
    "Parental controls do not replace a conversation in the family.",
    "Fake news spreads very quickly on screens.",
    "Report shocking content to the platform.",
]
# More sentences for the other files of a condition (`make_sample(..., variant=k)`).
FRENCH_MORE = [
    "Les écrans avant de dormir retardent le sommeil des enfants.",
    "Un adolescent passe environ trois heures par jour sur son téléphone.",
    "Les parents peuvent fixer des règles simples pour les repas en famille.",
    "Les photos publiées en ligne restent visibles pendant des années.",
    "Votre enfant doit savoir qu'il peut vous parler sans être puni.",
    "Les professeurs remarquent souvent les premiers signes de fatigue.",
    "Il vaut mieux installer l'ordinateur dans une pièce commune.",
    "Les mots de passe ne se partagent pas, même avec les amis.",
]
ENGLISH_MORE = [
    "Screens before bedtime delay the sleep of children.",
    "A teenager spends about three hours a day on the phone.",
    "Parents can set simple rules for family meals.",
    "Photos posted online stay visible for years.",
    "Your child should know they can talk to you without being punished.",
    "Teachers often notice the first signs of tiredness.",
    "It is better to keep the computer in a shared room.",
    "Passwords are never shared, not even with friends.",
]
# The word-list café of issue 10 (`3018, Snapchat, WhatsApp, e-Enfance`): sentences that say
# its words, to measure whether passing them to the decoder helps (`term_recall`).
CAFE_TERMS = ("3018", "Snapchat", "WhatsApp", "e-Enfance")
FRENCH_TERMS = [
    "Si votre enfant est harcelé, appelez le 3018, c'est gratuit et anonyme.",
    "Le 3018 est géré par l'association e-Enfance.",
    "Sur Snapchat, les messages disparaissent mais les captures d'écran restent.",
    "Les groupes WhatsApp de la classe peuvent devenir le lieu du harcèlement.",
    "Gardez les preuves avant de bloquer un compte Snapchat.",
    "L'association e-Enfance aide aussi les parents à faire retirer une photo.",
    "Un message sur WhatsApp peut être transféré à toute la classe.",
]
ENGLISH_TERMS = [
    "If your child is harassed, call 3018, it is free and anonymous.",
    "The 3018 line is run by the e-Enfance association.",
    "On Snapchat, messages disappear but screenshots remain.",
    "Class WhatsApp groups can become a place of harassment.",
    "Keep the evidence before blocking a Snapchat account.",
    "The e-Enfance association also helps parents get a photo taken down.",
    "A message on WhatsApp can be forwarded to the whole class.",
]
# (voice, words per minute): men and women, slow to fast, taken in turn by the sentences.
VOICES = {
    "fr": [("fr+m3", 150), ("fr+f2", 170), ("fr+m1", 135), ("fr+f4", 185)],
    "en": [("en+m3", 150), ("en+f2", 170), ("en+m1", 135), ("en-us+f4", 185)],
}
# The other voices of the other files (variant k > 0 takes them in turn from k).
MORE_VOICES = {
    "fr": [("fr+m5", 160), ("fr+f1", 145), ("fr+m7", 175), ("fr+f5", 155), ("fr+m2", 190),
           ("fr+f3", 140), ("fr+m4", 165), ("fr+f2", 180)],
    "en": [("en+m5", 160), ("en+f1", 145), ("en+m7", 175), ("en-us+f5", 155),
           ("en+m2", 190), ("en+f3", 140), ("en-us+m4", 165), ("en+f2", 180)],
}
CONDITIONS = ("clean", "noise", "reverb", "room", "phone", "music", "overlap")


@dataclass(frozen=True)
class RefWord:
    start: float
    end: float
    word: str


@dataclass(frozen=True)
class Sample:
    name: str  # e.g. "fr-noise"
    language: str
    condition: str
    audio: Audio
    text: str
    words: tuple[RefWord, ...]
    variant: int = 0  # which file of its condition (0: the set's first, 8 sentences)

    @property
    def duration(self) -> float:
        return len(self.audio) / RATE

    def spoken(self) -> list[tuple[float, float]]:
        """The spoken stretches: words closer than 0.25 s joined."""
        return merge_spans([(w.start, w.end) for w in self.words], gap=0.25)

    def write(self, path: Path) -> Path:
        write_wav(path, self.audio)
        return path


# -- espeak-ng through its library: samples and word events -------------------------------

class _Event(ctypes.Structure):
    _fields_ = [("type", ctypes.c_int), ("unique_identifier", ctypes.c_uint),
                ("text_position", ctypes.c_int), ("length", ctypes.c_int),
                ("audio_position", ctypes.c_int), ("sample", ctypes.c_int),
                ("user_data", ctypes.c_void_p), ("id", ctypes.c_void_p)]


_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int,
                             ctypes.POINTER(_Event))
_WORD, _LIST_TERMINATED = 1, 0


class _Espeak:
    """One espeak-ng instance in synchronous mode (the library is a process-wide singleton)."""

    def __init__(self) -> None:
        self.lib = ctypes.CDLL("libespeak-ng.so.1")
        self.rate = int(self.lib.espeak_Initialize(2, 500, None, 0))  # AUDIO_OUTPUT_SYNCHRONOUS
        if self.rate <= 0:
            raise RuntimeError("espeak-ng could not start")
        self.samples: list[npt.NDArray[np.int16]] = []
        self.events: list[tuple[int, int, int]] = []  # (text position, length, ms)

        def on_audio(wav: Any, count: int, events: Any) -> int:
            if count > 0:
                self.samples.append(np.ctypeslib.as_array(wav, shape=(count,)).copy())
            i = 0
            while events[i].type != _LIST_TERMINATED:
                e = events[i]
                if e.type == _WORD:
                    self.events.append((e.text_position, e.length, e.audio_position))
                i += 1
            return 0

        self._callback = _CALLBACK(on_audio)  # kept alive as long as the instance
        self.lib.espeak_SetSynthCallback(self._callback)
        self.lib.espeak_Synth.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint,
                                          ctypes.c_int, ctypes.c_uint, ctypes.c_uint,
                                          ctypes.c_void_p, ctypes.c_void_p]

    def say(self, text: str, voice: str, wpm: int) -> tuple[Audio, list[tuple[float, str]]]:
        """16 kHz audio of `text` and each word's onset (seconds), in order."""
        if self.lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise RuntimeError(f"espeak-ng has no voice {voice}")
        self.lib.espeak_SetParameter(1, wpm, 0)  # espeakRATE
        self.samples, self.events = [], []
        data = text.encode()
        # POS_CHARACTER, espeakCHARS_UTF8; positions in events count characters from 1.
        self.lib.espeak_Synth(data, len(data) + 1, 0, 1, 0, 1, None, None)
        self.lib.espeak_Synchronize()
        pcm = np.concatenate(self.samples) if self.samples else np.zeros(0, np.int16)
        audio = _resample(pcm.astype(np.float32) / 32768.0, self.rate)
        onsets = [(ms / 1000.0, text[pos - 1:pos - 1 + length])
                  for pos, length, ms in self.events]
        return audio, onsets


@functools.cache
def _espeak() -> _Espeak:
    return _Espeak()


def _resample(audio: Audio, rate: int) -> Audio:
    if rate == RATE:
        return audio.astype(np.float32)
    n = round(len(audio) * RATE / rate)
    x = np.linspace(0, len(audio) - 1, n)
    return np.interp(x, np.arange(len(audio)), audio).astype(np.float32)


def _db(audio: Audio) -> float:
    return float(20 * np.log10(np.sqrt(np.mean(audio.astype(np.float64) ** 2)) + 1e-12))


def block_db(audio: Audio, block: int = 320) -> npt.NDArray[np.float64]:
    n = len(audio) // block
    frames = audio[: n * block].astype(np.float64).reshape(n, block)
    return np.asarray(20 * np.log10(np.sqrt(np.mean(frames**2, axis=1)) + 1e-12))


def utterance(text: str, voice: str, wpm: int) -> tuple[Audio, list[RefWord]]:
    """espeak-ng speaking `text`: its audio and each word's (start, end) in it. A word ends
    where its voicing ends (last loud 10 ms block before the next word's onset)."""
    audio, onsets = _espeak().say(text, voice, wpm)
    loud = block_db(audio, 160) > -45.0
    words: list[RefWord] = []
    for i, (start, word) in enumerate(onsets):
        limit = onsets[i + 1][0] if i + 1 < len(onsets) else len(audio) / RATE
        blocks = np.flatnonzero(loud[int(start * 100):int(limit * 100)])
        end = start + (blocks[-1] + 1) / 100 if len(blocks) else min(limit, start + 0.1)
        first = start + blocks[0] / 100 if len(blocks) else start
        words.append(RefWord(round(float(first), 3), round(float(max(end, first + 0.05)), 3),
                             word))
    return audio, words


# -- sox effects ----------------------------------------------------------------------------

def write_wav(path: Path, audio: Audio) -> None:
    pcm = (np.clip(audio, -1, 1) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(pcm.tobytes())


def read_wav(path: Path) -> Audio:
    with wave.open(str(path), "rb") as inp:
        frames = inp.readframes(inp.getnframes())
    return (np.frombuffer(frames, "<i2").astype(np.float32) / 32768.0).astype(np.float32)


def sox(audio: Audio, *effect: str) -> Audio:
    """`audio` through a sox effect chain (same length: the tail a reverb adds is cut)."""
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "in.wav", Path(tmp) / "out.wav"
        write_wav(src, audio)
        subprocess.run(["sox", "-R", str(src), "-r", str(RATE), "-c", "1", "-b", "16", "-e",
                        "signed-integer", str(dst), *effect], check=True)
        out = read_wav(dst)
    return _fit(out, len(audio))


def synth(seconds: float, *spec: str) -> Audio:
    n = round(seconds * RATE)
    with tempfile.TemporaryDirectory() as tmp:
        dst = Path(tmp) / "synth.wav"
        subprocess.run(["sox", "-R", "-n", "-r", str(RATE), "-c", "1", "-b", "16", "-e",
                        "signed-integer", str(dst), "synth", f"{seconds:.3f}", *spec],
                       check=True)
        return _fit(read_wav(dst), n)


def _fit(audio: Audio, n: int) -> Audio:
    if len(audio) >= n:
        return audio[:n]
    return np.concatenate([audio, np.zeros(n - len(audio), np.float32)])


def at_level(audio: Audio, db: float) -> Audio:
    return (audio * np.float32(10 ** ((db - _db(audio)) / 20))).astype(np.float32)


def telephone(audio: Audio) -> Audio:
    with tempfile.TemporaryDirectory() as tmp:
        src, mid, dst = (Path(tmp) / n for n in ("in.wav", "mid.wav", "out.wav"))
        write_wav(src, audio)
        subprocess.run(["sox", "-R", str(src), "-r", "8000", "-b", "16", "-e", "signed-integer",
                        str(mid), "sinc", "300-3400"], check=True)
        subprocess.run(["sox", "-R", str(mid), "-r", str(RATE), "-b", "16", "-e", "signed-integer",
                        str(dst)], check=True)
        return _fit(read_wav(dst), len(audio))


# -- the set ----------------------------------------------------------------------------------

def _say_all(texts: tuple[str, ...], voices: tuple[tuple[str, int], ...]
             ) -> list[tuple[Audio, list[RefWord]]]:
    return [utterance(text, *voices[i % len(voices)]) for i, text in enumerate(texts)]


@functools.cache
def _spoken(texts: tuple[str, ...], voices: tuple[tuple[str, int], ...]
            ) -> tuple[tuple[Audio, list[RefWord]], ...]:
    """The sentences said in turn by `voices`, by a fresh espeak-ng (a process of its own):
    espeak's output depends on what the same instance said before, so a file made in one
    process would differ from the same file made after others. Cached: the conditions of one
    script share its voices."""
    import pickle
    import sys

    here = str(Path(__file__).resolve().parent)
    code = ("import pickle, sys; sys.path.insert(0, sys.argv[1]); import speech_set; "
            "texts, voices = pickle.load(sys.stdin.buffer); "
            "sys.stdout.buffer.write(pickle.dumps(speech_set._say_all(texts, voices)))")
    done = subprocess.run([sys.executable, "-c", code, here], input=pickle.dumps(
        (texts, voices)), capture_output=True, check=True)
    return tuple(pickle.loads(done.stdout))

def timeline(sentences: Sequence[str], voices: Sequence[tuple[str, int]], *,
             gap: float = 0.7, overlap: float = 0.0, lead: float = 0.5
             ) -> tuple[Audio, list[RefWord]]:
    """Sentences spoken in turn by `voices`, `gap` s apart; with `overlap` > 0, every
    other sentence starts that long before the previous one ends (a second speaker
    cutting in)."""
    pieces: list[tuple[int, Audio]] = []
    words: list[RefWord] = []
    at = lead
    spoken = _spoken(tuple(sentences), tuple(voices))
    for i, (audio, said) in enumerate(spoken):
        first, last = said[0].start, said[-1].end
        audio = audio[int(first * RATE):int(last * RATE)]
        start = at - overlap if overlap and i % 2 == 1 else at
        pieces.append((int(start * RATE), at_level(audio, -22.0)))
        words += [RefWord(round(float(start + w.start - first), 3),
                          round(float(start + w.end - first), 3), w.word) for w in said]
        at = start + len(audio) / RATE + gap
    total = int((at + 1.0) * RATE)
    mix = np.zeros(total, np.float32)
    for offset, audio in pieces:
        mix[offset:offset + len(audio)] += audio
    return mix, sorted(words, key=lambda w: w.start)


def variant_script(language: str, variant: int) -> tuple[list[str], list[tuple[str, int]]]:
    """The sentences and voices of file `variant` of a condition: 0 is the set's first file
    (the 8 base sentences, 4 voices); k > 0 takes 5 sentences of the 16 (base and more) from
    a different place, and 4 other voices (other timbres, 140-190 words a minute) from k.
    Deterministic: the same k gives the same file."""
    base = FRENCH if language == "fr" else ENGLISH
    if variant == 0:
        return list(base), VOICES[language]
    pool = base + (FRENCH_MORE if language == "fr" else ENGLISH_MORE)
    texts = [pool[(5 * variant + 3 * i) % len(pool)] for i in range(5)]
    more = MORE_VOICES[language]
    voices = [more[(3 * variant + i) % len(more)] for i in range(4)]
    return texts, voices


def make_sample(language: str, condition: str, sentences: Sequence[str] | None = None,
                variant: int = 0) -> Sample:
    """One file of the set: `language` "fr" or "en", `condition` one of CONDITIONS;
    `variant` the file of that condition (see `variant_script`)."""
    if condition not in CONDITIONS:
        raise ValueError(condition)
    texts, voices = variant_script(language, variant)
    if sentences:
        texts = list(sentences)
    overlap = 0.8 if condition == "overlap" else 0.0
    audio, words = timeline(texts, voices, overlap=overlap)
    seconds = len(audio) / RATE
    if condition == "noise":  # a loud room: pink noise floor near -35 dBFS
        audio = audio + at_level(synth(seconds, "pinknoise"), -35.0)
    elif condition == "reverb":
        audio = sox(audio, "reverb", "50", "50", "100")
    elif condition == "room":  # reverberant and noisy
        audio = sox(audio, "reverb", "40", "50", "80") + at_level(
            synth(seconds, "pinknoise"), -38.0)
    elif condition == "phone":
        audio = telephone(audio + at_level(synth(seconds, "brownnoise"), -45.0))
    elif condition == "music":  # a guitar chord bed under the voice
        chord = synth(1.5, "pluck", "C3", "pluck", "E3", "pluck", "G3")  # struck every 1.5 s
        bed = np.tile(chord, int(seconds / 1.5) + 1)
        audio = audio + at_level(_fit(bed, len(audio)), -30.0)
    audio = np.clip(audio, -1.0, 1.0).astype(np.float32)
    text = " ".join(texts)
    return Sample(f"{language}-{condition}", language, condition, audio, text, tuple(words),
                  variant)


def speech_set(languages: Sequence[str] = ("fr", "en"),
               conditions: Sequence[str] = CONDITIONS, files: int = 1) -> list[Sample]:
    return [make_sample(lang, cond, variant=k) for lang in languages for cond in conditions
            for k in range(files)]


# -- measures -------------------------------------------------------------------------------

def merge_spans(spans: Sequence[tuple[float, float]], gap: float = 0.0
                ) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    for start, end in sorted(spans):
        if out and start <= out[-1][1] + gap:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def overlap_seconds(a: Sequence[tuple[float, float]], b: Sequence[tuple[float, float]]
                    ) -> float:
    total = 0.0
    for s1, e1 in a:
        for s2, e2 in b:
            total += max(0.0, min(e1, e2) - max(s1, s2))
    return total


def coverage(sample: Sample, spans: Sequence[tuple[float, float]], pad: float = 0.2) -> float:
    """The share of the sample's spoken seconds inside the transcript's spans (± pad)."""
    spoken = sample.spoken()
    total = sum(e - s for s, e in spoken)
    covered = overlap_seconds(spoken, merge_spans([(s - pad, e + pad) for s, e in spans]))
    return covered / total if total else 1.0


def word_coverage(sample: Sample, spans: Sequence[tuple[float, float]], pad: float = 0.2
                  ) -> float:
    """The share of the sample's spoken seconds in words whose middle lies inside the
    transcript's spans (± pad): a word counts whole or not at all. `coverage` also counts
    the last tens of milliseconds of a word's fading voicing, which Whisper's word timings
    end before (measured: the seconds `coverage` missed on noisy and telephone French were
    0.03-0.1 s slivers at sentence ends)."""
    padded = merge_spans([(s - pad, e + pad) for s, e in spans])
    total = sum(w.end - w.start for w in sample.words)
    covered = sum(w.end - w.start for w in sample.words
                  if any(a <= (w.start + w.end) / 2 <= b for a, b in padded))
    return covered / total if total else 1.0


def _norm(text: str) -> list[str]:
    import re
    import unicodedata

    folded = unicodedata.normalize("NFKD", text.lower().replace("’", "'"))
    folded = "".join(c for c in folded if not unicodedata.combining(c))
    return re.sub(r"[^\w' ]+", " ", folded.replace("-", " ")).replace("'", " ").split()


def wer(reference: str, hypothesis: str) -> float:
    r, h = _norm(reference), _norm(hypothesis)
    d = list(range(len(h) + 1))
    for i, a in enumerate(r, 1):
        prev, d[0] = d[0], i
        for j, b in enumerate(h, 1):
            prev, d[j] = d[j], min(d[j] + 1, d[j - 1] + 1, prev + (a != b))
    return d[len(h)] / max(1, len(r))


def _term_key(text: str) -> str:
    return "".join(_norm(text))


def term_recall(reference: str, hypothesis: str, terms: Sequence[str] = CAFE_TERMS
                ) -> float | None:
    """The share of the café's terms said in `reference` that `hypothesis` spells right
    (case, accents, hyphens and spaces folded: "e-Enfance" = "E Enfance"); None when the
    reference says none of them."""
    ref = _norm(reference)
    hyp = "".join(_norm(hypothesis))
    said = found = 0
    for term in terms:
        key = _term_key(term)
        n = "".join(ref).count(key)
        said += n
        found += min(n, hyp.count(key))
    return found / said if said else None


def recall(reference: str, hypothesis: str) -> float:
    """The share of reference words found in the hypothesis (a bag of words, accents and
    case folded): a transcript that loops or invents has many words and few right ones."""
    from collections import Counter

    ref, hyp = Counter(_norm(reference)), Counter(_norm(hypothesis))
    return sum(min(n, hyp[w]) for w, n in ref.items()) / max(1, sum(ref.values()))
