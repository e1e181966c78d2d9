"""Pseudonyms others will see (finding 12 of issue 8): invisible, layout-breaking or
mark-only names are refused with a clear message, never silently changed. Generated over
every code point of the refused Unicode categories (a sample of each), not hand-picked."""

from __future__ import annotations

import sys
import unicodedata

import pytest

from sessions.cafe import PSEUDONYM_REFUSED_CATEGORIES, clean_pseudonym
from sessions.errors import InvalidInput


def sample(categories: frozenset[str], per_category: int = 12) -> list[str]:
    # sorted: a frozenset's order follows the hash seed, and every pytest-xdist worker
    # must collect the same tests in the same order
    found: dict[str, list[str]] = {c: [] for c in sorted(categories)}
    for point in range(sys.maxunicode + 1):
        ch = chr(point)
        kind = unicodedata.category(ch)
        if kind in found and len(found[kind]) < per_category:
            found[kind].append(ch)
    return [ch for chars in found.values() for ch in chars]


REFUSED = sample(PSEUDONYM_REFUSED_CATEGORIES - {"Cs"})  # lone surrogates: not in JSON
MARKS = sample(frozenset({"Mn", "Me", "Mc"}))


def test_the_named_cases_are_in_the_samples() -> None:
    for ch in ("\u2028", "\u2029", "\u202e", "\u200b", "\x07"):
        assert unicodedata.category(ch) in PSEUDONYM_REFUSED_CATEGORIES


@pytest.mark.parametrize("ch", [*REFUSED, "\u2028", "\u2029", "\u202e", "\u200b", "\x00"],
                         ids=lambda ch: f"U+{ord(ch):04X}")
def test_an_invisible_or_layout_breaking_character_is_refused(ch: str) -> None:
    for name in (f"Marie{ch}", f"{ch}Marie", f"Ma{ch}rie"):
        with pytest.raises(InvalidInput, match="control or invisible"):
            clean_pseudonym(name, max_length=40)


@pytest.mark.parametrize("mark", MARKS, ids=lambda ch: f"U+{ord(ch):04X}")
def test_marks_alone_are_refused_and_with_a_letter_accepted(mark: str) -> None:
    with pytest.raises(InvalidInput, match="visible letter"):
        clean_pseudonym(mark * 3, max_length=40)
    with pytest.raises(InvalidInput, match="visible letter"):
        clean_pseudonym(f" {mark} {mark} ", max_length=40)
    assert clean_pseudonym(f"e{mark}", max_length=40) == unicodedata.normalize("NFC",
                                                                                f"e{mark}")


@pytest.mark.parametrize("name", ["Marie", "Léa-Rose", "Dr Martin", "山田", "Zoé 🌻", "42",
                                  "Ωmega", "Jean‑Paul", "Renée  M."])
def test_ordinary_names_are_kept(name: str) -> None:
    assert clean_pseudonym(f"  {name} ", max_length=40) == unicodedata.normalize("NFC", name)


def test_length_and_emptiness_still_bound() -> None:
    with pytest.raises(InvalidInput, match="too long"):
        clean_pseudonym("a" * 41, max_length=40)
    with pytest.raises(InvalidInput, match="required"):
        clean_pseudonym("   ", max_length=40)
