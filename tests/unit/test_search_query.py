"""The search query parser and the snippet highlighter: pure, no database."""

from __future__ import annotations

import pytest

from transcripts.search_query import (
    MAX_QUERY_LENGTH,
    Highlighter,
    ParsedQuery,
    SearchQueryError,
    Term,
    normalize,
    parse_filters,
    parse_paging,
    parse_query,
    stem,
    stemmed_text,
)


def terms(text: str) -> list[tuple[str, str]]:
    return [(t.kind, t.text) for t in parse_query(text).terms]


def test_normalize_removes_accents_and_case() -> None:
    assert normalize("Harcèlement À L'ÉCOLE, ça") == "harcelement a l'ecole, ca"


def test_words_prefixes_phrases() -> None:
    assert terms('Harcèlement "jeux vidéo" écran*') == [
        ("word", "harcelement"), ("phrase", "jeux video"), ("prefix", "ecran")]


def test_french_quotes_and_curly_quotes_are_phrases() -> None:
    assert terms("« réseaux sociaux »") == [("phrase", "reseaux sociaux")]
    assert terms("“contrôle parental”") == [("phrase", "controle parental")]


def test_unclosed_quote_is_plain_words() -> None:
    assert terms('"jeux vidéo') == [("word", "jeux"), ("word", "video")]
    # "a" and "d" are stop words (à, d'); the phrase closed before stays a phrase.
    assert terms('a "b c" "d e') == [("phrase", "b c"), ("word", "e")]


@pytest.mark.parametrize("text", [
    "NEAR(harcèlement école)", "harcèlement AND école", "col:harcèlement", "^harcèlement",
    "harcèlement -école", "(harcèlement OR école)", "harcèlement + école",
])
def test_fts_syntax_is_inert(text: str) -> None:
    parsed = parse_query(text)
    fts = parsed.to_fts5()
    # Every token is quoted; nothing outside quotes but spaces and a trailing star.
    stripped = "".join(part for i, part in enumerate(fts.split('"')) if i % 2 == 0)
    assert set(stripped) <= {" ", "*"}
    assert "harcelement" in fts


def test_operators_become_words() -> None:
    assert terms("NEAR(mot clé)") == [("word", "near"), ("word", "mot"), ("word", "cle")]
    # "or" (French for gold) is a word, quoted, never an operator; "y" is a stop word.
    assert terms("x OR y") == [("word", "x"), ("word", "or")]
    assert parse_query("x OR y").to_fts5() == '"x" "or"'


def test_stop_words_only_is_empty() -> None:
    assert parse_query("le la les de et à").is_empty
    assert parse_query('"le la"').is_empty
    assert parse_query("").is_empty
    assert parse_query("   \t ").is_empty
    assert parse_query("*** ((( ^^^").is_empty


def test_stop_words_stay_inside_phrases() -> None:
    assert terms('"cour de récréation"') == [("phrase", "cour de recreation")]


def test_short_prefix_is_a_word() -> None:
    assert terms("ab*") == [("word", "ab")]


def test_duplicates_removed() -> None:
    assert terms("écran ECRAN écran") == [("word", "ecran")]


def test_too_long_is_an_error() -> None:
    parse_query("x" * MAX_QUERY_LENGTH)
    with pytest.raises(SearchQueryError) as caught:
        parse_query("x" * (MAX_QUERY_LENGTH + 1))
    assert caught.value.http_status == 400 and caught.value.code == "invalid_query"
    with pytest.raises(SearchQueryError):
        parse_query("x" * 10_000)


def test_too_many_terms() -> None:
    with pytest.raises(SearchQueryError):
        parse_query(" ".join(f"mot{i}" for i in range(30)))


def test_fts5_rendering() -> None:
    parsed = ParsedQuery((Term("word", ("a",)), Term("prefix", ("bcd",)),
                          Term("phrase", ("e", "f"))))
    assert parsed.to_fts5() == '"a" "bcd"* "e f"'


def test_highlight_escapes_then_marks() -> None:
    light = Highlighter.for_terms(parse_query("école harcel*").terms)
    snippet = str(light.snippet("<b>L'École</b> & le harcèlement <script>"))
    assert snippet == ("&lt;b&gt;L&#39;<mark>École</mark>&lt;/b&gt; &amp; le "
                       "<mark>harcèlement</mark> &lt;script&gt;")


def test_highlight_stems() -> None:
    light = Highlighter.for_terms(parse_query("harcelement").terms, stems=["harcel"])
    assert str(light.snippet("harcelé, harceler")) == "<mark>harcelé</mark>, <mark>harceler</mark>"


def test_long_text_is_cut_around_the_match() -> None:
    text = "début " + "mot " * 100 + "écran " + "fin " * 100
    snippet = str(Highlighter.for_terms(parse_query("écran").terms).snippet(text, 80))
    assert snippet.startswith("…") and snippet.endswith("…")
    assert "<mark>écran</mark>" in snippet and len(snippet) < 120


def test_filters_and_paging() -> None:
    f = parse_filters({"theme": "screens", "cafe": "", "from": "2026-02-01", "to": ""})
    assert f.theme == "screens" and f.cafe is None and str(f.date_from) == "2026-02-01"
    for bad in ({"from": "hier"}, {"to": "2026-13-01"}, {"theme": "x" * 81}):
        with pytest.raises(SearchQueryError):
            parse_filters(bad)
    assert parse_paging(None, None) == (20, 0)
    assert parse_paging("50", "1000") == (50, 1000)
    for limit, offset in (("0", "0"), ("51", "0"), ("x", "0"), ("10", "-1"), ("10", "1001")):
        with pytest.raises(SearchQueryError):
            parse_paging(limit, offset)


@pytest.mark.parametrize(("words", "expected"), [
    (("harcèlement", "harcelé", "harceler", "harcelant", "harcèlements"), "harcel"),
    (("réseau", "réseaux"), "reseau"),
    (("social", "sociale", "sociaux", "sociales"), "social"),
    (("écran", "écrans", "Écrans"), "ecran"),
    (("surveiller", "surveillance", "surveillé"), "surveil"),
])
def test_inflections_share_a_stem(words: tuple[str, ...], expected: str) -> None:
    # The lexemes PostgreSQL's fr_unaccent (unaccent, then french_stem) produces.
    assert {stem(normalize(w)) for w in words} == {expected}


def test_stemmed_text_keeps_every_word_in_order() -> None:
    assert stemmed_text("Les jeux vidéo, en ligne : l'Œuvre !") == "le jeux video en lign l oeuvr"
    assert stemmed_text("") == ""


def test_stemmed_query_for_fts5() -> None:
    parsed = parse_query('harcelés "réseaux sociaux" surveil*')
    assert parsed.stemmed().to_fts5() == '"harcel" "reseau social" "surveil"*'
    assert parsed.stems == ("harcel", "reseau", "social", "surveil")


def test_highlight_inflections() -> None:
    parsed = parse_query("réseau harceler")
    light = Highlighter.for_terms(parsed.terms, parsed.stems)
    assert str(light.snippet("Harcelé sur les réseaux.")) == (
        "<mark>Harcelé</mark> sur les <mark>réseaux</mark>.")
