"""Search queries, pure: user text -> a parsed query -> a safe FTS5 query; results, snippets.

Nothing here does I/O. User text never reaches ``MATCH`` or ``to_tsquery`` as typed: it is
normalised (accents removed, lower case), cut into word tokens (letters and digits only), and
rebuilt from those tokens, so FTS syntax (``* ^ : ( ) NEAR AND OR``, stray quotes) is inert.

Grammar accepted from users (everything else is plain words):

- ``word``            the word, without accents or case (``harcelement`` finds ``harcèlement``)
- ``"a few words"``   a phrase (also « guillemets » and “curly quotes”); an unclosed quote is
                      read as plain words
- ``prefix*``         words starting with the prefix (at least ``MIN_PREFIX`` characters)

Every term must match (AND). French stop words outside phrases are dropped; a query of stop
words only is empty and finds nothing.
"""

from __future__ import annotations

import functools
import re
import threading
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

import snowballstemmer  # type: ignore[import-untyped]
from markupsafe import Markup, escape

from sessions.errors import InvalidInput

MAX_QUERY_LENGTH = 200
MAX_TERMS = 20
MAX_LIMIT = 50
DEFAULT_LIMIT = 20
MAX_OFFSET = 1000
MIN_PREFIX = 3
SNIPPET_MAX = 240
MAX_FILTER_LENGTH = 80

_TOKEN = re.compile(r"[^\W_]+(\*?)")
_WORD = re.compile(r"[^\W_]+")
_QUOTES = str.maketrans({"«": '"', "»": '"', "“": '"', "”": '"', "„": '"'})

# PostgreSQL's french.stop (Snowball) and a few more, unaccented: dropped on both backends.
_FRENCH_STOP = """
au aux avec ce ces dans de des du elle en et eux il je la le leur lui ma mais me même mes moi
mon ne nos notre nous on ou par pas pour qu que qui sa se ses son sur ta te tes toi ton tu un
une vos votre vous c d j l à m n s t y été étée étées étés étant étante étants étantes suis es
est sommes êtes sont serai seras sera serons serez seront serais serait serions seriez
seraient étais était étions étiez étaient fus fut fûmes fûtes furent sois soit soyons soyez
soient fusse fusses fût fussions fussiez fussent ayant ayante ayantes ayants eu eue eues eus
ai as avons avez ont aurai auras aura aurons aurez auront aurais aurait aurions auriez
auraient avais avait avions aviez avaient eut eûmes eûtes eurent aie aies ait ayons ayez aient
eusse eusses eût eussions eussiez eussent
les cet cette ça si
"""


_LIGATURES = str.maketrans({"œ": "oe", "Œ": "OE", "æ": "ae", "Æ": "AE"})


def normalize(text: str) -> str:
    """Lower case, accents removed (NFKD, combining marks dropped), œ/æ spelt out like
    PostgreSQL's ``unaccent``.

    ``Harcèlement`` -> ``harcelement``."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_LIGATURES))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).lower()


# --- French stemming (both backends index and search stems) ------------------------------
#
# PostgreSQL's ``fr_unaccent`` configuration runs ``unaccent`` then ``french_stem`` (the
# Snowball French algorithm); `stem` runs the same Snowball algorithm on the same normalized
# token, so SQLite indexes and searches the very lexemes PostgreSQL does: ``harcèlement``,
# ``harcelé``, ``harceler`` -> ``harcel``; ``réseau``, ``réseaux`` -> ``reseau``;
# ``sociaux``, ``sociale`` -> ``social``. (Snowball keeps an ``s`` after ``o``:
# ``vidéos`` -> ``videos`` on both backends.)

_STEMMERS = threading.local()  # Snowball stemmers keep state while stemming: one a thread


@functools.lru_cache(maxsize=100_000)
def stem(token: str) -> str:
    """The Snowball French stem of a normalized token (``harcelement`` -> ``harcel``)."""
    stemmer = getattr(_STEMMERS, "french", None)
    if stemmer is None:
        stemmer = _STEMMERS.french = snowballstemmer.stemmer("french")
    return str(stemmer.stemWord(token))


def stemmed_text(text: str) -> str:
    """The text as the SQLite index sees it: each word normalized and stemmed, in order,
    separated by spaces (``"Les jeux vidéo"`` -> ``"le jeux video"``)."""
    return " ".join(stem(token) for token in _WORD.findall(normalize(text)))


STOP_WORDS: frozenset[str] = frozenset(normalize(w) for w in _FRENCH_STOP.split())
# An English café's words for the decoder leave these out (search stays French-stemmed).
_ENGLISH_STOP = """
a about above after again against all also an and any are as at be because been before
being below between both but by can could did do does doing down during each few for from
further had has have having he her here hers herself him himself his how i if in into is it
its itself just me more most my myself no nor not now of off on once only or other our ours
ourselves out over own same she should so some such than that the their theirs them
themselves then there these they this those through to too under until up very was we were
what when where which while who whom why will with would you your yours yourself yourselves
"""
ENGLISH_STOP_WORDS: frozenset[str] = frozenset(_ENGLISH_STOP.split())


def stop_words(language: str) -> frozenset[str]:
    """The words a café's vocabulary leaves out, for its language (French otherwise)."""
    return ENGLISH_STOP_WORDS if language == "en" else STOP_WORDS


class SearchQueryError(InvalidInput):
    code = "invalid_query"
    default_message = "This search is not valid."


@dataclass(frozen=True)
class Term:
    kind: Literal["word", "prefix", "phrase"]
    tokens: tuple[str, ...]

    @property
    def text(self) -> str:
        return " ".join(self.tokens)


@dataclass(frozen=True)
class ParsedQuery:
    terms: tuple[Term, ...] = ()

    @property
    def is_empty(self) -> bool:
        return not self.terms

    def to_fts5(self) -> str:
        """The FTS5 MATCH expression: every token double-quoted, implicit AND between terms."""
        parts = []
        for term in self.terms:
            quoted = '"' + " ".join(term.tokens) + '"'
            parts.append(quoted + "*" if term.kind == "prefix" else quoted)
        return " ".join(parts)

    def stemmed(self) -> ParsedQuery:
        """The same terms with every token stemmed (prefixes too, as PostgreSQL's
        ``to_tsquery('harcel:*')`` does): what the SQLite stem index is searched with."""
        return ParsedQuery(tuple(
            Term(t.kind, tuple(stem(token) for token in t.tokens)) for t in self.terms
        ))

    @property
    def stems(self) -> tuple[str, ...]:
        """Every stem the query searches for (highlighting)."""
        return tuple(dict.fromkeys(token for t in self.stemmed().terms for token in t.tokens))


def parse_query(text: str) -> ParsedQuery:
    """Parse what a user typed. Raises `SearchQueryError` (HTTP 400) when it is too long."""
    if len(text) > MAX_QUERY_LENGTH:
        raise SearchQueryError(
            "A search is at most %(max)s characters.", max=MAX_QUERY_LENGTH
        )
    text = normalize(text.translate(_QUOTES))
    pieces = text.split('"')
    if len(pieces) % 2 == 0:
        # An odd number of quotes: the last one is never closed; read its tail as plain words.
        tail = pieces.pop()
        pieces[-1] = pieces[-1] + " " + tail
    terms: list[Term] = []
    for index, piece in enumerate(pieces):
        if index % 2 == 1:
            tokens = tuple(_WORD.findall(piece))
            if len(tokens) == 1:
                terms.extend(_word_terms(piece))
            elif tokens and not all(t in STOP_WORDS for t in tokens):
                terms.append(Term("phrase", tokens))
        else:
            terms.extend(_word_terms(piece))
    unique = tuple(dict.fromkeys(terms))
    if len(unique) > MAX_TERMS:
        raise SearchQueryError("A search has at most %(max)s words.", max=MAX_TERMS)
    return ParsedQuery(unique)


def _word_terms(piece: str) -> Iterable[Term]:
    for match in _TOKEN.finditer(piece):
        token = match.group(0).rstrip("*")
        if match.group(1) and len(token) >= MIN_PREFIX:
            yield Term("prefix", (token,))
        elif token not in STOP_WORDS:
            yield Term("word", (token,))


# --- filters, paging ---------------------------------------------------------------------


@dataclass(frozen=True)
class SearchFilters:
    theme: str | None = None
    cafe: str | None = None  # a café slug
    association: str | None = None  # an association's slug (issue 12)
    date_from: date | None = None  # inclusive, on the café's start date (UTC)
    date_to: date | None = None  # inclusive


def parse_filters(params: dict[str, str]) -> SearchFilters:
    """Filters from query-string values (``theme``, ``cafe``, ``association``, ``from``,
    ``to``, dates ISO)."""
    values: dict[str, Any] = {}
    for name, key in (("theme", "theme"), ("cafe", "cafe"), ("association", "association")):
        raw = params.get(key, "").strip()
        if len(raw) > MAX_FILTER_LENGTH:
            raise SearchQueryError("This filter is not valid.")
        values[name] = raw or None
    for name, key in (("date_from", "from"), ("date_to", "to")):
        raw = params.get(key, "").strip()
        if raw:
            try:
                values[name] = date.fromisoformat(raw[:10]) if len(raw) <= 32 else None
            except ValueError:
                values[name] = None
            if values[name] is None:
                raise SearchQueryError("Dates are written YYYY-MM-DD.")
    return SearchFilters(**values)


def parse_paging(limit: str | None, offset: str | None) -> tuple[int, int]:
    """``limit`` in 1..MAX_LIMIT (default DEFAULT_LIMIT), ``offset`` in 0..MAX_OFFSET."""
    try:
        lim = int(limit) if limit not in (None, "") else DEFAULT_LIMIT
        off = int(offset) if offset not in (None, "") else 0
    except (TypeError, ValueError):
        raise SearchQueryError("limit and offset are whole numbers.") from None
    if not 1 <= lim <= MAX_LIMIT:
        raise SearchQueryError("limit is between 1 and %(max)s.", max=MAX_LIMIT)
    if not 0 <= off <= MAX_OFFSET:
        raise SearchQueryError("offset is between 0 and %(max)s.", max=MAX_OFFSET)
    return lim, off


# --- results ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SearchHit:
    segment_id: int
    cafe_slug: str
    cafe_title: str
    cafe_theme: str
    cafe_starts_at: datetime
    start: float
    end: float
    speaker: str
    text: str
    snippet: Markup
    score: float
    # When the first matching word is spoken (its Whisper word timing); the segment's start
    # when the segment has no word timings. Replays start here, not at the segment.
    moment: float | None = None

    @property
    def at(self) -> float:
        return self.start if self.moment is None else self.moment

    def to_json(self) -> dict[str, Any]:
        return {
            "segment_id": self.segment_id,
            "cafe": {
                "slug": self.cafe_slug,
                "title": self.cafe_title,
                "theme": self.cafe_theme,
                "starts_at": self.cafe_starts_at.isoformat(),
            },
            "start": self.start,
            "end": self.end,
            "moment": self.at,
            "speaker": self.speaker,
            "text": self.text,
            "snippet": str(self.snippet),
            "url": f"/cafes/{self.cafe_slug}/transcript#t={self.at:g}",
        }


@dataclass(frozen=True)
class SearchResult:
    query: str
    hits: tuple[SearchHit, ...]
    total: int
    # False when more matched than the search counts (`total` is then a lower bound).
    total_exact: bool
    limit: int
    offset: int
    terms: tuple[Term, ...] = field(default=())

    @property
    def has_more(self) -> bool:
        return self.offset + len(self.hits) < self.total

    def to_json(self) -> dict[str, Any]:
        return {
            "query": self.query,
            "total": self.total,
            "total_exact": self.total_exact,
            "limit": self.limit,
            "offset": self.offset,
            "has_more": self.has_more,
            "next_offset": self.offset + self.limit if self.has_more else None,
            "hits": [hit.to_json() for hit in self.hits],
        }

    def by_cafe(self) -> list[tuple[str, str, list[SearchHit]]]:
        """Hits grouped by café, cafés in the order of their best hit: (slug, title, hits)."""
        groups: dict[str, tuple[str, str, list[SearchHit]]] = {}
        for hit in self.hits:
            groups.setdefault(hit.cafe_slug, (hit.cafe_slug, hit.cafe_title, []))[2].append(hit)
        return list(groups.values())


# --- highlighting -------------------------------------------------------------------------


@dataclass(frozen=True)
class Highlighter:
    """Marks the words of a segment that match: exact tokens, words whose stem is one the
    query searches for, words starting with a prefix (or whose stem does)."""

    exact: frozenset[str]
    prefixes: tuple[str, ...]
    stems: frozenset[str] = frozenset()

    @classmethod
    def for_terms(cls, terms: Iterable[Term], stems: Iterable[str] = ()) -> Highlighter:
        exact: set[str] = set()
        prefixes: set[str] = set()
        stem_set: set[str] = set(stems)
        for term in terms:
            if term.kind == "prefix":
                prefixes.add(term.tokens[0])
                prefixes.add(stem(term.tokens[0]))
            else:
                exact.update(term.tokens)
                stem_set.update(stem(token) for token in term.tokens)
        return cls(
            frozenset(exact), tuple(sorted(p for p in prefixes if p)),
            frozenset(s for s in stem_set if s),
        )

    def matches(self, word: str) -> bool:
        norm = normalize(word)
        if norm in self.exact or (self.prefixes and norm.startswith(self.prefixes)):
            return True
        stemmed = stem(norm)
        return stemmed in self.stems or (
            bool(self.prefixes) and stemmed.startswith(self.prefixes)
        )

    def first_match(self, words: Iterable[Any]) -> float | None:
        """The start of the first matching word among stored word timings
        (``[start, end, word, probability]`` lists or objects with those keys), or None."""
        for item in words:
            if isinstance(item, dict):
                start, word = item.get("start"), item.get("word")
            elif isinstance(item, list | tuple) and len(item) >= 3:
                start, word = item[0], item[2]
            else:
                continue
            if (isinstance(word, str) and isinstance(start, int | float)
                    and any(self.matches(w) for w in _WORD.findall(word))):
                return float(start)
        return None

    def snippet(self, text: str, max_chars: int = SNIPPET_MAX) -> Markup:
        """Safe HTML: the text escaped, matching words wrapped in ``<mark>``, long text cut
        around the first match with an ellipsis."""
        spans = [m.span() for m in _WORD.finditer(text) if self.matches(m.group(0))]
        start, end = 0, len(text)
        if end > max_chars:
            first = spans[0][0] if spans else 0
            start = max(0, first - max_chars // 3)
            if start:
                space = text.find(" ", start)
                start = space + 1 if 0 <= space < first else start
            end = min(len(text), start + max_chars)
            if end < len(text):
                space = text.rfind(" ", start, end)
                end = space if space > start else end
        out: list[str] = ["…"] if start else []
        cursor = start
        for s, e in spans:
            if s < start or e > end:
                continue
            out.append(str(escape(text[cursor:s])))
            out.append("<mark>" + str(escape(text[s:e])) + "</mark>")
            cursor = e
        out.append(str(escape(text[cursor:end])))
        if end < len(text):
            out.append("…")
        return Markup("".join(out))
