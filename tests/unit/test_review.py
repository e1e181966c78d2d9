"""The pure review steps (transcripts.review): generated texts, edits and selections
(hypothesis), and the cases a reviewer meets (a corrected word, a name taken out)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sessions.errors import InvalidInput
from transcripts.review import (
    REDACTED,
    TEXT_MAX,
    Draft,
    RedactionOutside,
    edit,
    join,
    redact,
    split,
)

WORD = st.text(alphabet="abcdeéèàçxyz'-,.", min_size=1, max_size=8).filter(
    lambda w: w.strip(" ") == w and any(c.isalpha() for c in w))
WORDS = st.lists(WORD, min_size=1, max_size=25)


def timed(start: float, end: float, tokens: list[str]) -> Draft:
    step = (end - start) / len(tokens)
    words = tuple((min(end, max(start, round(start + i * step, 3))),
                   min(end, max(start, round(start + (i + 1) * step, 3))), " " + t, 0.8)
                  for i, t in enumerate(tokens))
    return Draft(start, end, "Expert", " ".join(tokens), words)


def assert_well_timed(draft: Draft) -> None:
    tokens = draft.text.split()
    assert [w[2].strip() for w in draft.words] == tokens
    starts = [w[0] for w in draft.words]
    assert starts == sorted(starts)
    for w_start, w_end, _, _ in draft.words:
        assert draft.start <= w_start <= w_end <= draft.end


@settings(max_examples=300, deadline=None)
@given(old=WORDS, new=WORDS, start=st.floats(0, 3000), length=st.floats(0.5, 30))
def test_an_edit_keeps_every_word_timed_within_its_segment(old: list[str], new: list[str],
                                                           start: float, length: float) -> None:
    draft = timed(start, start + length, old)
    after = edit(draft, text=" ".join(new))
    assert after.text == " ".join(new)
    assert_well_timed(after)
    # A kept word (probability still Whisper's) keeps its own timing; the others are new.
    by_timing = {(w[0], w[1]): w[2] for w in draft.words}
    for w_start, w_end, word, probability in after.words:
        if probability != 1.0:
            assert by_timing[(w_start, w_end)].lower() == word.lower()
    if old == new:
        assert after.words == draft.words


def test_a_corrected_word_takes_the_stretch_of_the_word_it_replaces() -> None:
    draft = timed(10.0, 14.0, ["le", "harcelement", "en", "ligne"])
    after = edit(draft, text="le cyberharcèlement en ligne")
    assert after.words[0] == draft.words[0] and after.words[2:] == draft.words[2:]
    assert after.words[1][:2] == draft.words[1][:2]
    assert after.words[1][2] == " cyberharcèlement"


def test_inserted_words_share_the_gap_before_the_next_word() -> None:
    draft = timed(0.0, 4.0, ["un", "deux", "trois", "quatre"])
    after = edit(draft, text="un deux et demi trois quatre")
    assert_well_timed(after)
    inserted = after.words[2:4]
    assert all(2.0 <= w[0] <= w[1] <= 2.0 for w in inserted)  # between "deux" and "trois"


@settings(max_examples=300, deadline=None)
@given(tokens=WORDS, data=st.data())
def test_a_redaction_removes_every_selected_word_and_only_them(tokens: list[str],
                                                               data: st.DataObject) -> None:
    draft = timed(5.0, 5.0 + len(tokens), tokens)
    text = draft.text
    a = data.draw(st.integers(0, len(text) - 1))
    b = data.draw(st.integers(a + 1, len(text)))
    if not text[a:b].strip():
        with pytest.raises(InvalidInput):
            redact(draft, a, b)
        return
    done = redact(draft, a, b)
    assert REDACTED in done.draft.text
    assert draft.start <= done.start < done.end <= draft.end
    assert_well_timed(done.draft)
    # The result is the text with the selection, widened to whole words, replaced.
    lo, hi = a, b
    while text[lo].isspace():
        lo += 1
    while text[hi - 1].isspace():
        hi -= 1
    out = done.draft.text
    x = out.index(REDACTED)
    y = len(text) - (len(out) - x - len(REDACTED))
    assert out[:x] == text[:x] and out[x + len(REDACTED):] == text[y:]
    assert x <= lo and y >= hi
    assert all(c.isalnum() or c in "-'’" for c in text[x:lo] + text[hi:y])


def test_a_name_becomes_retire_and_its_stretch_is_silenced() -> None:
    draft = timed(1.0, 4.0, ["Bonsoir,", "je", "suis", "Lucas", "Martin,", "de", "Lyon"])
    start = draft.text.index("ucas")  # a partial selection widens to whole words
    done = redact(draft, start, draft.text.index("Martin") + 3)
    assert done.draft.text == f"Bonsoir, je suis {REDACTED}, de Lyon"
    assert [w[2] for w in done.draft.words][3] == f" {REDACTED},"
    lucas, martin = draft.words[3], draft.words[4]
    assert done.start == pytest.approx(lucas[0] - 0.15)
    assert done.end == pytest.approx(martin[1] + 0.15)


@pytest.mark.parametrize(("a", "b", "audio"), [
    (-1, 3, None), (3, 3, None), (5, 2, None), (0, 999, None),
    (0, 3, (0.5, 2.0)), (0, 3, (2.0, 4.5)), (0, 3, (3.0, 2.0)),
])
def test_a_redaction_outside_its_segment_is_refused(a: int, b: int,
                                                    audio: tuple[float, float] | None) -> None:
    draft = timed(1.0, 4.0, ["un", "deux", "trois"])
    with pytest.raises(RedactionOutside):
        redact(draft, a, b, audio)


def test_an_audio_span_within_the_segment_is_taken_as_given() -> None:
    draft = timed(1.0, 4.0, ["un", "deux", "trois"])
    done = redact(draft, 0, 2, (1.2, 2.5))
    assert (done.start, done.end) == (1.2, 2.5)


@settings(max_examples=200, deadline=None)
@given(tokens=st.lists(WORD, min_size=2, max_size=20), data=st.data())
def test_split_then_join_gives_back_the_segment(tokens: list[str], data: st.DataObject) -> None:
    draft = timed(2.0, 2.0 + len(tokens), tokens)
    cut = data.draw(st.integers(1, len(tokens) - 1))
    at = len(" ".join(tokens[:cut])) + 1 + data.draw(st.integers(0, len(tokens[cut]) - 1))
    first, second = split(draft, at)
    assert first.text == " ".join(tokens[:cut]) and second.text == " ".join(tokens[cut:])
    assert first.end == second.start == draft.words[cut][0]
    assert_well_timed(first)
    assert_well_timed(second)
    assert join(first, second) == draft


@pytest.mark.parametrize("at", [0, 2, 7, 9999])
def test_split_refuses_a_cut_outside_the_words(at: int) -> None:
    with pytest.raises(InvalidInput):
        split(timed(0.0, 1.0, ["bonjour"]), at)


def test_edits_are_bounded() -> None:
    draft = timed(0.0, 1.0, ["bonjour"])
    with pytest.raises(InvalidInput):
        edit(draft, text="x" * (TEXT_MAX + 1))
    with pytest.raises(InvalidInput):
        edit(draft, text=" \n\t ")
    with pytest.raises(InvalidInput):
        edit(draft, speaker="y" * 81)
    with pytest.raises(InvalidInput):
        join(timed(0.0, 1.0, ["a" * 1500]), timed(1.0, 2.0, ["b" * 600]))
    assert edit(draft, text="  deux\n lignes\u0007 ").text == "deux lignes"
