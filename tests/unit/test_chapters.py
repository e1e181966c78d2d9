"""Chapters of a replay from the questions the expert took (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from transcripts.chapters import Chapter, TakenQuestion, chapters_of, to_chapters_vtt

T0 = datetime(2026, 3, 10, 18, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_each_question_taken_is_a_chapter_from_answering_to_answered() -> None:
    taken = [
        TakenQuestion(7, "Et la nuit ?", at(300), None),  # still answering at the end
        TakenQuestion(3, "Comment  parler\ndu harcèlement ?", at(60), at(200)),
        TakenQuestion(5, "Et les jeux ?", at(200), at(290)),
    ]
    assert chapters_of(taken, T0, at(1800)) == [
        Chapter(3, 60.0, 200.0, "Comment parler du harcèlement ?"),
        Chapter(5, 200.0, 290.0, "Et les jeux ?"),
        Chapter(7, 300.0, 1800.0, "Et la nuit ?"),
    ]


def test_an_unfinished_question_ends_where_the_next_begins_and_times_never_go_negative(
) -> None:
    taken = [TakenQuestion(1, "Avant", at(-30), None), TakenQuestion(2, "Après", at(40), None)]
    chapters = chapters_of(taken, T0, None)
    assert [(c.start, c.end) for c in chapters] == [(0.0, 40.0), (40.0, 41.0)]
    assert chapters_of(taken, None, None) == []  # never opened: no café time


def test_the_chapters_track_is_webvtt_with_escaped_titles() -> None:
    vtt = to_chapters_vtt([Chapter(3, 61.5, 200.0, "<b>Écrans</b> & nuit --> dodo"),
                           Chapter(4, 3600.0, 3725.25, "Long")])
    assert vtt.startswith("WEBVTT")
    assert ("q3\n00:01:01.500 --> 00:03:20.000\n"
            "&lt;b&gt;Écrans&lt;/b&gt; &amp; nuit --&gt; dodo") in vtt
    assert "01:00:00.000 --> 01:02:05.250" in vtt
    (long,) = chapters_of([TakenQuestion(1, "x" * 300, at(1), at(2))], T0, None)
    assert long.title == "x" * 199 + "…"
