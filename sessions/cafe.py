"""A café and its lifecycle: scheduled -> live -> ended. Pure: no I/O, no clock reads.

Transitions take the current state and the time the shell read, and return the new state
and the events to emit.
"""

from __future__ import annotations

import dataclasses
import enum
import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sessions.errors import InvalidInput, InvalidTransition

THEMES: tuple[str, ...] = (
    "cyber-harassment",
    "screens",
    "video-games",
    "social-networks",
    "fake-news",
    "parenting",
)
LANGUAGES: tuple[str, ...] = ("fr", "en")

TITLE_MAX = 160
DESCRIPTION_MAX = 4000
THEME_MAX = 40
GLOSSARY_MAX = 1000
DURATION_MIN_MINUTES = 15
DURATION_MAX_MINUTES = 240
SLUG_MAX = 80
# A café is planned at most this far ahead, and an edit keeps it at most this far behind:
# every page renders the date in the local zone, and a year-9999 row broke them all.
DATE_WINDOW = timedelta(days=2 * 366)


class CafeStatus(enum.StrEnum):
    SCHEDULED = "scheduled"
    LIVE = "live"
    ENDED = "ended"


@dataclass(frozen=True, slots=True)
class Cafe:
    id: int
    slug: str
    title: str
    description: str
    theme: str
    language: str
    starts_at: datetime
    duration_minutes: int
    status: CafeStatus
    transcript_published: bool = False
    glossary: str = ""
    opened_at: datetime | None = None
    ended_at: datetime | None = None
    association_id: int = 0  # every stored café has one (0: a café not stored yet)


@dataclass(frozen=True, slots=True)
class CafeOpened:
    cafe_id: int
    at: datetime


@dataclass(frozen=True, slots=True)
class CafeEnded:
    cafe_id: int
    at: datetime


def open_cafe(cafe: Cafe, now: datetime) -> tuple[Cafe, CafeOpened]:
    if cafe.status is not CafeStatus.SCHEDULED:
        raise InvalidTransition("This café cannot be opened: it is %(status)s.", status=cafe.status)
    opened = dataclasses.replace(cafe, status=CafeStatus.LIVE, opened_at=now)
    return opened, CafeOpened(cafe.id, now)


def end_cafe(cafe: Cafe, now: datetime) -> tuple[Cafe, CafeEnded]:
    if cafe.status is not CafeStatus.LIVE:
        raise InvalidTransition("This café cannot be ended: it is %(status)s.", status=cafe.status)
    return dataclasses.replace(cafe, status=CafeStatus.ENDED, ended_at=now), CafeEnded(cafe.id, now)


def set_transcript_published(cafe: Cafe, published: bool) -> Cafe:
    # Before the end the transcript is still growing (or not begun: a scheduled café may
    # carry a recording imported with `causerie transcribe`, published once it has ended).
    if published and cafe.status is not CafeStatus.ENDED:
        raise InvalidTransition("A transcript can be published only after the café has ended.")
    return dataclasses.replace(cafe, transcript_published=published)


@dataclass(frozen=True, slots=True)
class CafeDraft:
    """A validated café form (create or edit)."""

    title: str
    description: str
    theme: str
    language: str
    starts_at: datetime
    duration_minutes: int
    glossary: str = ""


def clean_text(value: str, *, field: str, max_length: int, required: bool = True,
               multiline: bool = False) -> str:
    """Strip, drop control characters (keeping newlines where multiline), bound the length."""
    allowed = {"\n", "\t"} if multiline else set()
    text = "".join(
        ch for ch in unicodedata.normalize("NFC", value)
        if ch in allowed or unicodedata.category(ch)[0] != "C"
    ).strip()
    if required and not text:
        raise InvalidInput("The field %(field)s is required.", field=field)
    if len(text) > max_length:
        raise InvalidInput(
            "The field %(field)s is too long (at most %(max)s characters).",
            field=field, max=max_length,
        )
    return text


# Line and paragraph separators, control, format (bidi overrides, zero-width), private-use,
# surrogate and unassigned characters: invisible or layout-breaking in a name shown to all.
PSEUDONYM_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Co", "Cs", "Cn", "Zl", "Zp"})


def clean_pseudonym(value: str, *, max_length: int) -> str:
    """A pseudonym as others will see it: refused (not silently changed) when it holds an
    invisible or layout-breaking character, or nothing visible but combining marks."""
    text = unicodedata.normalize("NFC", value)
    if any(unicodedata.category(ch) in PSEUDONYM_REFUSED_CATEGORIES for ch in text):
        raise InvalidInput("A pseudonym cannot contain line breaks, control or invisible "
                           "characters.")
    text = text.strip()
    if text and not any(unicodedata.category(ch)[0] in "LNPS" for ch in text):
        raise InvalidInput("A pseudonym needs at least one visible letter, digit or sign.")
    return clean_text(text, field="pseudonym", max_length=max_length)


def validate_draft(
    *, title: str, description: str, theme: str, language: str, starts_at: datetime,
    duration_minutes: int, glossary: str = "", now: datetime, is_new: bool,
) -> CafeDraft:
    title = clean_text(title, field="title", max_length=TITLE_MAX)
    description = clean_text(description, field="description", max_length=DESCRIPTION_MAX,
                             required=False, multiline=True)
    theme = clean_text(theme, field="theme", max_length=THEME_MAX).lower()
    if not re.fullmatch(r"[\w][\w -]*", theme):
        raise InvalidInput("The theme may contain only letters, digits, spaces and dashes.")
    if language not in LANGUAGES:
        raise InvalidInput("Unknown language: %(language)s.", language=language)
    starts_at = check_start(starts_at, now=now, is_new=is_new)
    if not DURATION_MIN_MINUTES <= duration_minutes <= DURATION_MAX_MINUTES:
        raise InvalidInput(
            "The duration must be between %(min)s and %(max)s minutes.",
            min=DURATION_MIN_MINUTES, max=DURATION_MAX_MINUTES,
        )
    glossary = clean_text(glossary, field="glossary", max_length=GLOSSARY_MAX, required=False,
                          multiline=True)
    return CafeDraft(title, description, theme, language, starts_at, duration_minutes, glossary)


def check_start(starts_at: datetime, *, now: datetime, is_new: bool) -> datetime:
    """The start time in UTC, once it is in the window every form and the CLI share: a new
    café in the future and at most `DATE_WINDOW` ahead; an edited one within the window on
    either side of `now`."""
    if starts_at.tzinfo is None:
        raise InvalidInput("The start time must carry a time zone.")
    try:
        # Stored in UTC: SQLite keeps no offset, so an aware local time would come back wrong.
        utc = starts_at.astimezone(UTC)
    except (OverflowError, ValueError):  # year 1 or 9999 on the far side of UTC
        raise InvalidInput("A café starts within two years from now.") from None
    if is_new and utc <= now:
        raise InvalidInput("A new café must start in the future.")
    if utc - now > DATE_WINDOW or now - utc > DATE_WINDOW:
        raise InvalidInput("A café starts within two years from now.")
    return utc


def slugify(title: str, starts_at: datetime) -> str:
    """A readable, URL-safe slug: ascii words of the title and the date."""
    ascii_title = (
        unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode("ascii").lower()
    )
    words = re.sub(r"[^a-z0-9]+", "-", ascii_title).strip("-")[: SLUG_MAX - 11].strip("-")
    return f"{words or 'cafe'}-{starts_at:%Y-%m-%d}"
