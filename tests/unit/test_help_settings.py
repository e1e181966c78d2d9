"""Help numbers and privacy notices as values: bounds, phone-ish numbers, JSON round trip."""

from __future__ import annotations

import pytest

from sessions.errors import InvalidInput
from sessions.help_settings import (
    DEFAULT_HELP,
    HELP_DESCRIPTION_MAX,
    HELP_LINES_MAX,
    PRIVACY_MAX,
    CafeHelp,
    HelpSettings,
    clean_number,
    validate_help,
    validate_privacy,
)


def test_defaults_are_the_3018_and_the_119_as_tel_links() -> None:
    assert [line.number for line in DEFAULT_HELP.lines] == ["3018", "119"]
    assert [line.tel for line in DEFAULT_HELP.lines] == ["tel:3018", "tel:119"]
    assert "e-Enfance" in DEFAULT_HELP.lines[0].description("fr")
    assert "anonymous" in DEFAULT_HELP.lines[0].description("en")
    assert CafeHelp().effective_help() == DEFAULT_HELP


@pytest.mark.parametrize(("raw", "clean", "tel"), [
    ("3018", "3018", "tel:3018"),
    (" 119 ", "119", "tel:119"),
    ("+33 1 23 45 67 89", "+33 1 23 45 67 89", "tel:+33123456789"),
    ("0 800  05.12-34", "0 800 05.12-34", "tel:0800051234"),
])
def test_numbers_people_write(raw: str, clean: str, tel: str) -> None:
    [line] = validate_help([(raw, "Aide", "Help")]).lines
    assert (line.number, line.tel) == (clean, tel)


@pytest.mark.parametrize("raw", ["abc", "3", "+", "12--34", "3018;", "javascript:1",
                                 "1" * 21, "+33 (0)1 23", "٣٠١٨", "30\u200b18", "-3018"])
def test_numbers_refused(raw: str) -> None:
    with pytest.raises(InvalidInput):
        clean_number(raw)


def test_lines_bounded_in_count_and_length_and_never_empty() -> None:
    rows = [("3018", "a", "b")] * (HELP_LINES_MAX + 1)
    with pytest.raises(InvalidInput, match="At most"):
        validate_help(rows)
    assert len(validate_help(rows[:HELP_LINES_MAX]).lines) == HELP_LINES_MAX
    with pytest.raises(InvalidInput, match="too long"):
        validate_help([("3018", "x" * (HELP_DESCRIPTION_MAX + 1), "b")])
    with pytest.raises(InvalidInput, match="required"):
        validate_help([("3018", "", "Help")])
    with pytest.raises(InvalidInput, match="at least one"):
        validate_help([("", "", ""), ("  ", " ", "")])


def test_json_round_trip_validates_again() -> None:
    settings = validate_help([("119", "Enfant en danger", "A child in danger"),
                              ("", "", ""), ("3018", "Harcèlement", "Harassment")])
    assert HelpSettings.from_json(settings.to_json()) == settings
    with pytest.raises(InvalidInput):
        HelpSettings.from_json([{"number": "<b>", "fr": "x", "en": "y"}])
    with pytest.raises(InvalidInput):
        HelpSettings.from_json({"number": "3018"})


def test_privacy_notice_bounded_and_cleaned() -> None:
    notice = validate_privacy("  Enregistré.\n\nPublié.\x07 ", "")
    assert notice.text("fr") == "Enregistré.\n\nPublié." and notice.text("en") == ""
    with pytest.raises(InvalidInput, match="too long"):
        validate_privacy("x" * (PRIVACY_MAX + 1), "")
