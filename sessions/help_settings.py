"""Help numbers and the privacy notice of a café, as plain values (no I/O).

`HelpSettings` is the list of help lines a banner shows (each a phone number, a `tel:` link,
and a one-line description in French and English). A café carries its own, or none (then
the defaults apply: later, its association's; today `DEFAULT_HELP`, the 3018 and the 119).
The same value goes into JSON (`to_json` / `from_json`) so that an association can carry one
too. `PrivacyNotice` is the text of the café's privacy page, per language (empty: the
default text of the interface).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sessions.cafe import clean_text
from sessions.errors import InvalidInput

HELP_LINES_MAX = 4
NUMBER_MAX = 20
HELP_DESCRIPTION_MAX = 120
PRIVACY_MAX = 6000
# A phone number as people write it: digits, spaces, dots or dashes between them, an
# optional leading "+" (3018, 119, +33 1 23 45 67 89, 0 800 00 00 00).
NUMBER_PATTERN = re.compile(r"\+?[0-9](?:[0-9]|[ .\-](?=[0-9])){1,18}")


@dataclass(frozen=True, slots=True)
class HelpLine:
    number: str
    description_fr: str
    description_en: str

    @property
    def tel(self) -> str:
        """The `tel:` URI: the number without its separators."""
        return "tel:" + re.sub(r"[ .\-]", "", self.number)

    def description(self, lang: str) -> str:
        return self.description_en if lang == "en" else self.description_fr

    def to_json(self) -> dict[str, str]:
        return {"number": self.number, "fr": self.description_fr, "en": self.description_en}


@dataclass(frozen=True, slots=True)
class HelpSettings:
    lines: tuple[HelpLine, ...]

    def to_json(self) -> list[dict[str, str]]:
        return [line.to_json() for line in self.lines]

    @classmethod
    def from_json(cls, value: Any) -> HelpSettings:
        """From what `to_json` wrote (validated again: a row written by hand stays safe)."""
        if not isinstance(value, list):
            raise InvalidInput("The help numbers are not valid.")
        return validate_help(
            (str(item.get("number", "")), str(item.get("fr", "")), str(item.get("en", "")))
            for item in value if isinstance(item, Mapping))


# The 3018 is run by e-Enfance for children and teenagers harassed online (free, anonymous,
# by phone, chat and app); the 119 (Allô Enfance en Danger) answers day and night.
DEFAULT_HELP = HelpSettings((
    HelpLine("3018", "Harcèlement en ligne\u00a0: e-Enfance, gratuit et anonyme",
             "Online harassment: e-Enfance, free and anonymous"),
    HelpLine("119", "Enfant en danger\u00a0: 24\u00a0h/24, gratuit",
             "A child in danger: day and night, free"),
))


@dataclass(frozen=True, slots=True)
class PrivacyNotice:
    """The café's own privacy text per language; empty: the interface's default page."""

    text_fr: str = ""
    text_en: str = ""

    def text(self, lang: str) -> str:
        return self.text_en if lang == "en" else self.text_fr


@dataclass(frozen=True, slots=True)
class CafeHelp:
    """What a café sets: its help numbers (None: the defaults) and its privacy notice."""

    help: HelpSettings | None = None
    privacy: PrivacyNotice = PrivacyNotice()

    def effective_help(self, default: HelpSettings = DEFAULT_HELP) -> HelpSettings:
        return self.help if self.help is not None else default


def clean_number(value: str) -> str:
    number = " ".join(value.split())
    if not number:
        raise InvalidInput("The field %(field)s is required.", field="help number")
    if len(number) > NUMBER_MAX or not NUMBER_PATTERN.fullmatch(number):
        raise InvalidInput("A help number has digits only, with spaces, dots or dashes "
                           "between them and an optional + in front (at most %(max)s "
                           "characters).", max=NUMBER_MAX)
    return number


def validate_help(rows: Iterable[tuple[str, str, str]]) -> HelpSettings:
    """Help lines from (number, French description, English description) rows; rows left
    wholly empty are skipped. At least one line, at most `HELP_LINES_MAX`."""
    lines: list[HelpLine] = []
    for number, fr, en in rows:
        if not (number.strip() or fr.strip() or en.strip()):
            continue
        if len(lines) == HELP_LINES_MAX:
            raise InvalidInput("At most %(max)s help numbers.", max=HELP_LINES_MAX)
        lines.append(HelpLine(
            clean_number(number),
            clean_text(fr, field="description in French", max_length=HELP_DESCRIPTION_MAX),
            clean_text(en, field="description in English", max_length=HELP_DESCRIPTION_MAX)))
    if not lines:
        raise InvalidInput("A café shows at least one help number.")
    return HelpSettings(tuple(lines))


def validate_privacy(text_fr: str, text_en: str) -> PrivacyNotice:
    return PrivacyNotice(
        clean_text(text_fr, field="privacy notice in French", max_length=PRIVACY_MAX,
                   required=False, multiline=True),
        clean_text(text_en, field="privacy notice in English", max_length=PRIVACY_MAX,
                   required=False, multiline=True))
