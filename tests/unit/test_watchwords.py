"""The watched-words matcher (sessions.watchwords): whole words and phrases, accents and
case ignored, the personal-data patterns, list parsing and its bounds; properties with
hypothesis."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sessions.errors import InvalidInput
from sessions.watchwords import (
    MAX_LIST_CHARS,
    MAX_TERM_LENGTH,
    MAX_TERMS,
    Matcher,
    WatchAction,
    WatchTerm,
    fold,
    format_list,
    highlight,
    merged,
    parse_list,
    words,
)
from sessions.watchwords_fr import DEFAULT_LIST_FR

A = WatchAction


def matcher(*terms: tuple[str, WatchAction]) -> Matcher:
    return Matcher([WatchTerm(t, a) for t, a in terms])


DEFAULT = Matcher(parse_list(DEFAULT_LIST_FR))


def test_whole_words_case_and_accents() -> None:
    m = matcher(("pédé", A.HOLD))
    assert [x.term for x in m.find("Sale PEDE !")] == ["pédé"]
    assert m.find("t'es un pédé") and m.find("PÉDÉ")
    assert m.find("une balade pédestre") == []
    assert m.find("pédés") == []  # a whole word, not a prefix


def test_phrases_follow_each_other() -> None:
    m = matcher(("je sais où tu habites", A.HOLD))
    found = m.find("Attention : JE SAIS OU TU HABITES, petit.")
    assert len(found) == 1
    text = "Attention : JE SAIS OU TU HABITES, petit."
    assert text[found[0].start:found[0].end] == "JE SAIS OU TU HABITES"
    assert m.find("je sais, où tu habites ?")  # punctuation between words does not matter
    assert m.find("je sais que tu habites où") == []


def test_apostrophes_and_hyphens_split_words() -> None:
    m = matcher(("suicide-toi", A.HOLD), ("l'école", A.FLAG))
    assert m.find("suicide toi") and m.find("Suicide-toi") and m.find("SUICIDE–TOI")
    assert m.find("devant l’école") and m.find("devant L'ECOLE")


@pytest.mark.parametrize("text", [
    "appelez-moi au 06 12 34 56 78", "0612345678", "06.12.34.56.78", "06-12-34-56-78",
    "+33 6 12 34 56 78", "+33612345678", "0033 6 12 34 56 78", "+33 (0)6 12 34 56 78",
    "01 23 45 67 89", "+44 20 7946 0958", "mon mail : marie.dupont+cafe@exemple.fr",
    "j'habite au 12 rue des Lilas", "15 bis, avenue Jean Jaurès", "3 allée des Érables",
])
def test_default_list_holds_personal_data(text: str) -> None:
    verdict = DEFAULT.verdict(text)
    assert verdict.action is A.HOLD, text
    assert verdict.terms[0].startswith("@")


@pytest.mark.parametrize("text", [
    "Mon fils a 12 ans et passe 3 heures par jour sur les écrans",
    "Comment parler de harcèlement en 2026 ?", "Il y a 5 places dans la classe",
    "Le 06 décembre à 20 h", "Ma fille est en 4e, au collège", "Un score de 1234567",
    "pédestre", "une vache dans un pré",
])
def test_default_list_lets_ordinary_questions_through(text: str) -> None:
    assert DEFAULT.verdict(text).action is None, DEFAULT.find(text)


def test_strongest_action_wins() -> None:
    m = matcher(("chat", A.FLAG), ("idiot", A.HOLD), ("crétin", A.BLOCK))
    assert m.verdict("un chat").action is A.FLAG
    assert m.verdict("un chat idiot").action is A.HOLD
    assert m.verdict("un chat idiot et crétin").action is A.BLOCK
    assert m.verdict("rien").action is None
    assert m.verdict("un chat idiot").view() == {"action": "hold", "terms": ["chat", "idiot"]}


def test_parse_list_actions_comments_and_defaults() -> None:
    terms = parse_list("# a comment\n\nidiot\ncrétin | block\nchat|FLAG\nmot | retenir\n"
                       "@telephone | bloquer\n")
    assert [(t.term, t.action) for t in terms] == [
        ("idiot", A.HOLD), ("crétin", A.BLOCK), ("chat", A.FLAG), ("mot", A.HOLD),
        ("@telephone", A.BLOCK)]
    assert parse_list(format_list(terms)) == terms
    # a term given twice (however written) keeps its last action
    assert parse_list("Crétin\ncretin | flag") == [WatchTerm("cretin", A.FLAG)]


@pytest.mark.parametrize(("body", "says"), [
    ("ok\nmot | peut-être", "Line %(line)s: unknown action"),
    ("@numero", "unknown pattern"),
    ("!!!", "at least one letter"),
    ("x" * (MAX_TERM_LENGTH + 1), "at most %(max)s characters"),
    ("un deux trois quatre cinq six sept huit neuf", "at most %(max)s words"),
    ("\n".join(f"mot{i}" for i in range(MAX_TERMS + 1)), "at most %(max)s terms"),
    ("a" * (MAX_LIST_CHARS + 1), "at most %(max)s characters"),
])
def test_parse_list_bounds(body: str, says: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_list(body)
    assert says in caught.value.message


def test_merged_later_list_wins() -> None:
    base = parse_list("idiot\n@email")
    cafe = parse_list("IDIOT | flag\nchat | block")
    assert {(t.term, t.action) for t in merged(base, cafe)} == {
        ("IDIOT", A.FLAG), ("@email", A.HOLD), ("chat", A.BLOCK)}


def test_highlight_pieces() -> None:
    m = matcher(("idiot", A.HOLD), ("un idiot", A.FLAG))
    text = "Tu es un idiot, vraiment."
    pieces = highlight(text, m.find(text))
    assert pieces == [("Tu es ", False), ("un idiot", True), (", vraiment.", False)]
    assert "".join(p for p, _ in pieces) == text


# --- properties ------------------------------------------------------------------------------

letters = st.text(alphabet=st.sampled_from("abcdeéèêàçîôûœABCÉÈ"), min_size=2, max_size=8)
term_words = st.lists(letters, min_size=1, max_size=3)
noise = st.text(max_size=40)


def _accents_changed(text: str, upper: bool) -> str:
    stripped = "".join(c for c in unicodedata.normalize("NFKD", text)
                       if not unicodedata.combining(c))
    return stripped.upper() if upper else stripped


@settings(max_examples=300)
@given(term_words, noise, noise, st.booleans())
def test_a_term_between_separators_is_found(ws: list[str], before: str, after: str,
                                            upper: bool) -> None:
    term = " ".join(ws)
    text = f"{before} {_accents_changed(term, upper)} {after}"
    found = matcher((term, A.HOLD)).find(text)
    assert any(fold(text[m.start:m.end])[0].split() == list(words(term)) for m in found)


@settings(max_examples=300)
@given(term_words, letters)
def test_a_term_inside_a_longer_word_is_not_found(ws: list[str], glue: str) -> None:
    term = " ".join(ws)
    m = matcher((term, A.HOLD))
    assert m.find(f"{glue}{ws[0]}" + "".join(f" {w}" for w in ws[1:]) + glue) == []


@settings(max_examples=300)
@given(st.text(max_size=300), st.lists(term_words, max_size=5))
def test_matches_are_well_formed(text: str, terms: list[list[str]]) -> None:
    m = Matcher([WatchTerm(" ".join(ws), A.FLAG) for ws in terms]
                + [WatchTerm("@telephone", A.HOLD), WatchTerm("@email", A.HOLD),
                   WatchTerm("@adresse", A.HOLD)])
    found = m.find(text)
    for match in found:
        assert 0 <= match.start < match.end <= len(text)
    pieces = highlight(text, found)
    assert "".join(p for p, _ in pieces) == text
    verdict = m.verdict(text)
    assert (verdict.action is None) == (not found)


@settings(max_examples=200)
@given(st.lists(st.tuples(term_words, st.sampled_from(list(A))), max_size=20))
def test_lists_round_trip(entries: list[tuple[list[str], WatchAction]]) -> None:
    terms = parse_list("\n".join(f"{' '.join(ws)} | {a.value}" for ws, a in entries))
    assert parse_list(format_list(terms)) == terms
    assert len(terms) <= len(entries)
