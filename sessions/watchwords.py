"""Watched words, pure: a café's list of words, phrases and personal-data patterns, each
with an action, and the matcher that finds them in a question, a chat message or a
pseudonym. No I/O, no clock.

- *hold*: the text waits for a moderator (a chat message too, though chat is not
  pre-moderated); a pseudonym that holds one is refused (it cannot wait).
- *flag*: delivered, but marked for moderators (a pseudonym: let in, and marked in the
  moderators' presence list).
- *block*: refused, with a message naming the word.

Matching ignores case and accents, and takes whole words and phrases only: the text and
the term are folded (NFKD, combining marks dropped, casefolded) and cut into words (runs
of letters and digits; apostrophes, hyphens and punctuation separate them), and a term
matches where its words follow one another in the text. "Pédé" matches "pede" and
"PÉDÉ !", not "pédestre". Three patterns stand for personal data (`@telephone`,
`@email`, `@adresse`): phone numbers (French formats such as 06 12 34 56 78,
06.12.34.56.78, +33 6 12 34 56 78, and international +NN numbers), e-mail addresses and
a street address ("12 rue des Lilas").

A list is text, one term a line, optionally followed by `|` and its action (hold when
left out); a line starting with `#` is a comment. Bounded: `MAX_TERMS` terms of at most
`MAX_TERM_LENGTH` characters and `MAX_TERM_WORDS` words, `MAX_LIST_CHARS` in all.
"""

from __future__ import annotations

import enum
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sessions.errors import InvalidInput

MAX_TERMS = 300
MAX_TERM_LENGTH = 80
MAX_TERM_WORDS = 8
MAX_LIST_CHARS = 20_000
PATTERN_PREFIX = "@"


class WatchAction(enum.StrEnum):
    FLAG = "flag"
    HOLD = "hold"
    BLOCK = "block"


# The strongest action wins when a text matches several terms.
STRENGTH = {WatchAction.FLAG: 1, WatchAction.HOLD: 2, WatchAction.BLOCK: 3}
# The list's own words for its actions (a French organiser writes "retenir").
ACTION_WORDS: dict[str, WatchAction] = {
    "hold": WatchAction.HOLD, "retenir": WatchAction.HOLD, "retenu": WatchAction.HOLD,
    "flag": WatchAction.FLAG, "signaler": WatchAction.FLAG, "marquer": WatchAction.FLAG,
    "block": WatchAction.BLOCK, "bloquer": WatchAction.BLOCK, "refuser": WatchAction.BLOCK,
}

_APOSTROPHES = str.maketrans({"\u2019": "'", "\u02bc": "'", "\u2018": "'", "`": "'"})
_WORD = re.compile(r"[^\W_]+")

# On folded text (lower case, no accents). Digits may be split by spaces, dots or dashes.
_SEP = r"[ .\-]?"
PATTERNS: dict[str, re.Pattern[str]] = {
    "telephone": re.compile(
        r"(?<![\d+])(?:"
        r"(?:\+|00)\s?33\s?(?:\(0\)\s?)?[1-9](?:" + _SEP + r"\d{2}){4}"
        r"|0[1-9](?:" + _SEP + r"\d{2}){4}"
        r"|\+\d{1,3}(?:" + _SEP + r"\d){7,12}"
        r")(?!\d)"),
    "email": re.compile(r"(?<![\w.+\-])[\w.+\-]{1,64}@[\w\-]{1,63}(?:\.[\w\-]{1,63})+"),
    "adresse": re.compile(
        r"(?<!\d)\d{1,4}\s?(?:bis|ter)?,?\s+"
        r"(?:rue|avenue|av|boulevard|bd|place|chemin|allee|impasse|route|quai|square|"
        r"residence|lotissement)\b(?:\s+[^\W\d_][\w'\-]*){1,4}"),
}


@dataclass(frozen=True, slots=True)
class WatchTerm:
    """One line of a list: the term as written (or `@pattern`) and its action."""

    term: str
    action: WatchAction

    @property
    def pattern(self) -> str | None:
        return self.term[1:] if self.term.startswith(PATTERN_PREFIX) else None


@dataclass(frozen=True, slots=True)
class Match:
    """Where a term was found: `start`/`end` index the original text."""

    term: str
    action: WatchAction
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Verdict:
    action: WatchAction | None
    matches: tuple[Match, ...] = ()

    @property
    def terms(self) -> list[str]:
        return sorted({m.term for m in self.matches})

    def view(self) -> dict[str, Any] | None:
        """What moderators are shown (and what is stored beside the text)."""
        if self.action is None:
            return None
        return {"action": self.action.value, "terms": self.terms}


NOTHING = Verdict(None)


# --- folding ---------------------------------------------------------------------------------


def fold(text: str) -> tuple[str, list[int]]:
    """The text casefolded without accents, and for each folded character the index of the
    original character it comes from."""
    out: list[str] = []
    where: list[int] = []
    for i, ch in enumerate(text.translate(_APOSTROPHES)):
        for part in unicodedata.normalize("NFKD", ch):
            if unicodedata.combining(part):
                continue
            for c in part.casefold():
                out.append(c)
                where.append(i)
    return "".join(out), where


def words(text: str) -> tuple[str, ...]:
    return tuple(_WORD.findall(fold(text)[0]))


# --- lists -----------------------------------------------------------------------------------


def parse_list(body: str) -> list[WatchTerm]:
    """The terms of a list's text; `InvalidInput` naming the first bad line. A term given
    twice keeps its last action."""
    if len(body) > MAX_LIST_CHARS:
        raise InvalidInput("A list of watched words has at most %(max)s characters.",
                           max=MAX_LIST_CHARS)
    terms: dict[str, WatchTerm] = {}
    for number, raw in enumerate(body.splitlines(), start=1):
        line = "" if raw.lstrip().startswith("#") else raw.strip()
        if not line:
            continue
        term, _, action_word = line.partition("|")
        term = " ".join(term.split())
        action = WatchAction.HOLD
        if action_word.strip():
            found = ACTION_WORDS.get(action_word.strip().casefold())
            if found is None:
                raise InvalidInput(
                    "Line %(line)s: unknown action (hold, flag or block).", line=number)
            action = found
        terms[_key(term, number)] = WatchTerm(term, action)
        if len(terms) > MAX_TERMS:
            raise InvalidInput("A list of watched words has at most %(max)s terms.",
                               max=MAX_TERMS)
    return list(terms.values())


def _key(term: str, number: int) -> str:
    if len(term) > MAX_TERM_LENGTH:
        raise InvalidInput("Line %(line)s: a term has at most %(max)s characters.",
                           line=number, max=MAX_TERM_LENGTH)
    if term.startswith(PATTERN_PREFIX):
        if term[1:].casefold() not in PATTERNS:
            raise InvalidInput("Line %(line)s: unknown pattern (@telephone, @email or "
                               "@adresse).", line=number)
        return term.casefold()
    found = words(term)
    if not found:
        raise InvalidInput("Line %(line)s: a term needs at least one letter or digit.",
                           line=number)
    if len(found) > MAX_TERM_WORDS:
        raise InvalidInput("Line %(line)s: a term has at most %(max)s words.", line=number,
                           max=MAX_TERM_WORDS)
    return " ".join(found)


def format_list(terms: Iterable[WatchTerm]) -> str:
    return "".join(f"{t.term} | {t.action.value}\n" for t in terms)


# --- matching --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Matcher:
    """The terms of one café, ready to match (build it once per list)."""

    terms: Sequence[WatchTerm]
    _by_first: dict[str, list[tuple[tuple[str, ...], WatchTerm]]] = field(
        init=False, repr=False)
    _patterns: list[tuple[re.Pattern[str], WatchTerm]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        by_first: dict[str, list[tuple[tuple[str, ...], WatchTerm]]] = {}
        patterns: list[tuple[re.Pattern[str], WatchTerm]] = []
        for term in self.terms:
            if term.pattern is not None:
                patterns.append((PATTERNS[term.pattern.casefold()], term))
                continue
            seq = words(term.term)
            if seq:
                by_first.setdefault(seq[0], []).append((seq, term))
        object.__setattr__(self, "_by_first", by_first)
        object.__setattr__(self, "_patterns", patterns)

    def find(self, text: str) -> list[Match]:
        """Every place a term occurs, in the order of the text."""
        if not self.terms or not text:
            return []
        folded, where = fold(text)
        found: list[Match] = []
        tokens = [(m.group(), m.start(), m.end()) for m in _WORD.finditer(folded)]
        for i, (token, _start, _end) in enumerate(tokens):
            for seq, term in self._by_first.get(token, ()):
                j = i + len(seq)
                if j <= len(tokens) and all(tokens[i + k][0] == seq[k]
                                            for k in range(1, len(seq))):
                    found.append(Match(term.term, term.action, where[tokens[i][1]],
                                       where[tokens[j - 1][2] - 1] + 1))
        for pattern, term in self._patterns:
            for m in pattern.finditer(folded):
                if m.end() > m.start():
                    found.append(Match(term.term, term.action, where[m.start()],
                                       where[m.end() - 1] + 1))
        return sorted(found, key=lambda m: (m.start, -m.end, m.term))

    def verdict(self, text: str) -> Verdict:
        matches = self.find(text)
        if not matches:
            return NOTHING
        action = max((m.action for m in matches), key=STRENGTH.__getitem__)
        return Verdict(action, tuple(matches))


def merged(*lists: Iterable[WatchTerm]) -> list[WatchTerm]:
    """One list from several (the default list, then the café's): a later list's action
    replaces an earlier one's for the same term."""
    out: dict[str, WatchTerm] = {}
    for terms in lists:
        for term in terms:
            key = term.term.casefold() if term.pattern is not None else " ".join(
                words(term.term))
            out[key] = term
    return list(out.values())


def highlight(text: str, matches: Sequence[Match]) -> list[tuple[str, bool]]:
    """The text in pieces, each marked when it lies in a match (overlaps merged): for a
    page that renders each piece with autoescape, the marked ones in `<mark>`."""
    spans: list[list[int]] = []
    for m in sorted(matches, key=lambda m: m.start):
        if spans and m.start <= spans[-1][1]:
            spans[-1][1] = max(spans[-1][1], m.end)
        else:
            spans.append([m.start, m.end])
    pieces: list[tuple[str, bool]] = []
    at = 0
    for start, end in spans:
        if start > at:
            pieces.append((text[at:start], False))
        pieces.append((text[start:end], True))
        at = end
    if at < len(text):
        pieces.append((text[at:], False))
    return pieces


def watched_pieces(matcher: Matcher,
                   texts: Iterable[tuple[int, str]]) -> dict[int, list[tuple[str, bool]]]:
    """For each (id, text) holding a watched word, its `highlight` pieces (a transcript's
    segments on the review page)."""
    out: dict[int, list[tuple[str, bool]]] = {}
    for key, text in texts:
        found = matcher.find(text)
        if found:
            out[key] = highlight(text, found)
    return out
