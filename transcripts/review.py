"""Reviewing a transcript before (or after) it is published, pure: correct a segment's text or
speaker, split one in two, join two, redact a span.

No I/O, no clock reads: each function takes a `Draft` (a segment as stored) and returns the
new draft(s); `transcripts.review_service` checks who may act, persists with an optimistic
version and writes the audit row.

Word timings survive an edit: the words of the new text are aligned with the old ones
(`difflib`), a word kept keeps its timing, a corrected or inserted word is given a stretch
of the time its neighbours leave (interpolated by length within the segment). Search moments
(`Highlighter.first_match`) therefore point at the corrected word where it was spoken.

A redaction replaces the selected words by ``REDACTED`` in the text and the words, and
returns the stretch of café time they were spoken in, which the replay silences.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher

from sessions.cafe import clean_text
from sessions.errors import InvalidInput

# What a redacted span reads in every output (page, search index, exports), whatever the
# reader's language: it is part of the stored text.
REDACTED = "[retiré]"
TEXT_MAX = 2000
SPEAKER_MAX = 80
# Seconds of silence added around a redacted stretch (word timings are approximate), kept
# within the segment.
REDACTION_PAD = 0.15

Word = tuple[float, float, str, float]  # start, end, word (leading space), probability
_TOKEN = re.compile(r"\S+")


@dataclass(frozen=True, slots=True)
class Draft:
    start: float
    end: float
    speaker: str
    text: str
    words: tuple[Word, ...] = ()


@dataclass(frozen=True, slots=True)
class Redaction:
    """The outcome of `redact`: the new segment and the café-time stretch to silence."""

    draft: Draft
    start: float
    end: float


class RedactionOutside(InvalidInput):
    code = "redaction_outside"
    default_message = "This redaction is outside its segment."


def clean_segment_text(text: str) -> str:
    """A segment's text as a reviewer typed it: one line, bounded, not empty."""
    return " ".join(clean_text(text, field="text", max_length=TEXT_MAX).split())


def clean_speaker(speaker: str) -> str:
    return " ".join(clean_text(speaker, field="speaker", max_length=SPEAKER_MAX).split())


def _spread(tokens: Sequence[str], lo: float, hi: float) -> list[Word]:
    """Timings for `tokens` across [lo, hi], each a share proportional to its length."""
    hi = max(hi, lo)
    total = sum(len(t) for t in tokens) or 1
    out: list[Word] = []
    at = lo
    for token in tokens:
        end = at + (hi - lo) * len(token) / total
        out.append((round(at, 3), round(end, 3), " " + token, 1.0))
        at = end
    return out


def _key(word: str) -> str:
    return word.strip().lower()


def retime(words: Sequence[Word], text: str, start: float, end: float) -> tuple[Word, ...]:
    """The words of `text` with timings: kept words keep theirs, the others share the time
    between their neighbours. Every timing lies within [start, end], in order."""
    tokens = text.split()
    old = [w for w in words if w[2].strip()]
    if not old:
        return tuple(_spread(tokens, start, end))
    matcher = SequenceMatcher(None, [_key(w[2]) for w in old], [t.lower() for t in tokens],
                              autojunk=False)
    out: list[Word] = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            out.extend((old[i1 + k][0], old[i1 + k][1], " " + tokens[j1 + k], old[i1 + k][3])
                       for k in range(i2 - i1))
        elif tag == "replace":
            out.extend(_spread(tokens[j1:j2], old[i1][0], old[i2 - 1][1]))
        elif tag == "insert":
            lo = out[-1][1] if out else start
            hi = old[i1][0] if i1 < len(old) else end
            out.extend(_spread(tokens[j1:j2], lo, hi))
    # Whisper's own timings may overlap or stray past the segment: clamp, keep them in order.
    clamped: list[Word] = []
    floor = start
    for w_start, w_end, word, probability in out:
        s = min(max(w_start, floor), end)
        e = min(max(w_end, s), end)
        clamped.append((s, e, word, probability))
        floor = s
    return tuple(clamped)


def edit(draft: Draft, *, text: str | None = None, speaker: str | None = None) -> Draft:
    """The segment with a corrected text and/or speaker (each cleaned and bounded)."""
    new_speaker = draft.speaker if speaker is None else clean_speaker(speaker)
    if text is None:
        return dataclasses.replace(draft, speaker=new_speaker)
    new_text = clean_segment_text(text)
    return dataclasses.replace(draft, speaker=new_speaker, text=new_text,
                               words=retime(draft.words, new_text, draft.start, draft.end))


def _tokens(draft: Draft) -> tuple[list[re.Match[str]], tuple[Word, ...]]:
    """The text's tokens and one timed word per token."""
    tokens = list(_TOKEN.finditer(draft.text))
    return tokens, retime(draft.words, draft.text, draft.start, draft.end)


def split(draft: Draft, at: int) -> tuple[Draft, Draft]:
    """Two segments, the text cut at character `at` (moved back to the start of the word it
    falls in); the second starts when its first word is spoken."""
    tokens, words = _tokens(draft)
    if not 0 < at < len(draft.text):
        raise InvalidInput("A segment is split inside its text.")
    index = next((i for i, m in enumerate(tokens) if m.end() > at), len(tokens))
    if index <= 0 or index >= len(tokens):
        raise InvalidInput("A segment is split between two of its words.")
    cut = tokens[index].start()
    boundary = min(max(words[index][0], draft.start), draft.end)
    first_words = tuple((s, min(e, boundary), w, p) for s, e, w, p in words[:index])
    first = Draft(draft.start, boundary, draft.speaker, draft.text[:cut].strip(), first_words)
    second = Draft(boundary, draft.end, draft.speaker, draft.text[cut:].strip(),
                   words[index:])
    return first, second


def join(first: Draft, second: Draft) -> Draft:
    """One segment of two consecutive ones (the first one's speaker)."""
    text = f"{first.text} {second.text}".strip()
    if len(text) > TEXT_MAX:
        raise InvalidInput("The field %(field)s is too long (at most %(max)s characters).",
                           field="text", max=TEXT_MAX)
    _, first_words = _tokens(first)
    _, second_words = _tokens(second)
    return Draft(min(first.start, second.start), max(first.end, second.end), first.speaker,
                 text, first_words + second_words)


def _is_word_char(ch: str) -> bool:
    return ch.isalnum() or ch in "-'’"


def redact(draft: Draft, start_char: int, end_char: int,
           audio: tuple[float, float] | None = None) -> Redaction:
    """Replace characters [start_char, end_char) of the text, widened to whole words, by
    `REDACTED`; the stretch to silence is when those words were spoken (or `audio`, café
    seconds within the segment), padded by `REDACTION_PAD` within the segment."""
    text = draft.text
    if not 0 <= start_char < end_char <= len(text):
        raise RedactionOutside()
    while start_char < end_char and text[start_char].isspace():
        start_char += 1
    while end_char > start_char and text[end_char - 1].isspace():
        end_char -= 1
    if start_char == end_char or text[start_char:end_char] == REDACTED:
        raise InvalidInput("Select the words to take out of the transcript.")
    while start_char > 0 and _is_word_char(text[start_char - 1]):
        start_char -= 1
    while end_char < len(text) and _is_word_char(text[end_char]):
        end_char += 1
    tokens, words = _tokens(draft)
    hit = [i for i, m in enumerate(tokens) if m.start() < end_char and m.end() > start_char]
    if audio is not None:
        lo, hi = audio
        if not draft.start <= lo < hi <= draft.end:
            raise RedactionOutside()
    else:
        lo, hi = words[hit[0]][0], words[hit[-1]][1]
        lo, hi = max(draft.start, lo - REDACTION_PAD), min(draft.end, hi + REDACTION_PAD)
    new_text = f"{text[:start_char]}{REDACTED}{text[end_char:]}"
    # The redacted words' stretch goes to the marker: no timing keeps a removed word.
    kept_before = words[:hit[0]]
    kept_after = words[hit[-1] + 1:]
    marked = _marked_words(tokens, hit, text, start_char, end_char, words)
    new_words = kept_before + marked + kept_after
    if len(new_words) != len(new_text.split()):  # punctuation glued to the span: re-align
        new_words = retime(kept_before + kept_after, new_text, draft.start, draft.end)
    return Redaction(dataclasses.replace(draft, text=new_text, words=new_words), lo, hi)


def _marked_words(tokens: list[re.Match[str]], hit: list[int], text: str, start_char: int,
                  end_char: int, words: tuple[Word, ...]) -> tuple[Word, ...]:
    """The word(s) that replace the redacted tokens: what is left of the first and last
    tokens around the span (punctuation), joined with the marker."""
    head = text[tokens[hit[0]].start():start_char]
    tail = text[end_char:tokens[hit[-1]].end()]
    return ((words[hit[0]][0], words[hit[-1]][1], f" {head}{REDACTED}{tail}", 1.0),)
