"""Associations (organisations) sharing one Causerie: what one is, and its form's rules.

Pure: no I/O. Every café belongs to one association; an organiser acts only within theirs
(the rule itself is in `sessions.roles`).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from sessions.cafe import clean_text
from sessions.errors import InvalidInput
from sessions.help_settings import HELP_LINES_MAX, HelpSettings, validate_help

NAME_MAX = 120
SLUG_MIN, SLUG_MAX = 2, 60
DESCRIPTION_MAX = 1000
WEBSITE_MAX = 300
HELP_NUMBERS_MAX = 600
DEFAULT_COLOUR = "#2f6f5e"
_SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_COLOUR = re.compile(r"#[0-9a-f]{6}")


@dataclass(frozen=True, slots=True)
class Association:
    id: int
    slug: str
    name: str
    description: str = ""
    website: str = ""
    colour: str = DEFAULT_COLOUR
    # one help number a line ("3018 Cyber-harcèlement"): the safeguarding banner's defaults
    help_numbers: str = ""
    logo: str | None = None  # file name under the data directory's logos/
    logo_type: str | None = None

    @property
    def help(self) -> HelpSettings | None:
        """Its help lines for the banner (validated when stored)."""
        try:
            return help_settings(self.help_numbers)
        except InvalidInput:  # a row written by hand: the banner's defaults instead
            return None


@dataclass(frozen=True, slots=True)
class AssociationDraft:
    """A validated association form (the slug only on creation)."""

    name: str
    description: str = ""
    website: str = ""
    colour: str = DEFAULT_COLOUR
    help_numbers: str = ""


def slug_from_name(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    words = re.sub(r"[^a-z0-9]+", "-", ascii_name).strip("-")[:SLUG_MAX].strip("-")
    return words or "association"


def validate_slug(slug: str) -> str:
    slug = slug.strip().lower()
    if not SLUG_MIN <= len(slug) <= SLUG_MAX or not _SLUG.fullmatch(slug):
        raise InvalidInput(
            "A slug has %(min)s to %(max)s lowercase letters, digits and single dashes.",
            min=SLUG_MIN, max=SLUG_MAX)
    return slug


def validate_website(url: str) -> str:
    url = clean_text(url, field="website", max_length=WEBSITE_MAX, required=False)
    if url and not re.fullmatch(r"https?://[^\s<>\"']+", url):
        raise InvalidInput("The website must be an address starting with http:// or https://.")
    return url


def validate_colour(colour: str) -> str:
    colour = colour.strip().lower() or DEFAULT_COLOUR
    if not _COLOUR.fullmatch(colour):
        raise InvalidInput("The colour must be written #rrggbb.")
    return colour


_HELP_LINE = re.compile(r"(\+?[0-9](?:[0-9]|[ .\-](?=[0-9]))*)\s*[-–—:]?\s*(.*)")


def help_settings(text: str) -> HelpSettings | None:
    """The association's help lines as the safeguarding banner shows them (None: it has
    none, the banner's own defaults apply): each line "NUMBER description", the
    description in both languages."""
    rows = []
    for line in text.splitlines():
        found = _HELP_LINE.fullmatch(line.strip())
        if not line.strip():
            continue
        if found is None or not found.group(2).strip():
            raise InvalidInput("Each help number line starts with the number, then what it "
                               "is for (e.g. 3018 Online harassment).")
        rows.append((found.group(1), found.group(2), found.group(2)))
    return validate_help(rows) if rows else None


def validate_help_numbers(text: str) -> str:
    text = clean_text(text, field="help numbers", max_length=HELP_NUMBERS_MAX,
                      required=False, multiline=True)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if len(lines) > HELP_LINES_MAX:
        raise InvalidInput("At most %(max)s help numbers.", max=HELP_LINES_MAX)
    help_settings("\n".join(lines))  # each line is a number and what it is for
    return "\n".join(lines)


def validate_association(*, name: str, description: str = "", website: str = "",
                         colour: str = "", help_numbers: str = "") -> AssociationDraft:
    return AssociationDraft(
        name=clean_text(name, field="name", max_length=NAME_MAX),
        description=clean_text(description, field="description", max_length=DESCRIPTION_MAX,
                               required=False, multiline=True),
        website=validate_website(website),
        colour=validate_colour(colour),
        help_numbers=validate_help_numbers(help_numbers),
    )
