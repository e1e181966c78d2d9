"""A café's simulcast destinations: RTMP(S) ingests (a YouTube or Facebook Live URL and
stream key) the café's programme is pushed to while it is live. Pure: validation and the
masked view; the key is sealed by the caller (`Sealer`) and never shown again in full.

Rules: only ``rtmp://`` and ``rtmps://`` URLs with a host, no credentials, spaces or control
characters, at most ``url_max_length`` characters; a key of printable characters without
spaces, at most ``key_max_length``; at most ``max_destinations`` per café (the operator's
`sessions.settings.DestinationLimits`); a label of at most ``LABEL_MAX_LENGTH``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from urllib.parse import urlsplit

from sessions.errors import InvalidInput
from sessions.settings import DestinationLimits

__all__ = ["LABEL_MAX_LENGTH", "Destination", "NewDestination", "Sealer", "masked",
           "push_url", "validate_destination"]

SCHEMES = ("rtmp", "rtmps")
LABEL_MAX_LENGTH = 60


class Sealer(Protocol):
    """Encrypts stream keys at rest (`server.simulcast.StreamKeyBox`)."""

    def seal(self, key: str) -> str: ...

    def open(self, sealed: str) -> str: ...


@dataclass(frozen=True, slots=True)
class NewDestination:
    label: str
    url: str
    key: str


@dataclass(frozen=True, slots=True)
class Destination:
    """A stored destination, as pages see it: never the key, only its last 4 characters."""

    id: int
    cafe_id: int
    label: str
    url: str
    key_last4: str
    created_at: datetime

    @property
    def masked_key(self) -> str:
        return masked(self.key_last4)


def masked(last4: str) -> str:
    return "••••" + last4


def _printable(text: str) -> bool:
    return all(c.isprintable() and not c.isspace() for c in text)


def validate_destination(label: str, url: str, key: str, *, existing: int,
                         limits: DestinationLimits) -> NewDestination:
    """The destination to store, or `InvalidInput` naming what is wrong."""
    if existing >= limits.max_destinations:
        raise InvalidInput("At most %(max)s destinations per café.",
                           max=limits.max_destinations)
    label = " ".join(label.split())
    url = url.strip()
    key = key.strip()
    if len(label) > LABEL_MAX_LENGTH:
        raise InvalidInput("The field %(field)s is too long (at most %(max)s characters).",
                           field="label", max=LABEL_MAX_LENGTH)
    if not url:
        raise InvalidInput("The field %(field)s is required.", field="url")
    if len(url) > limits.url_max_length:
        raise InvalidInput("The field %(field)s is too long (at most %(max)s characters).",
                           field="url", max=limits.url_max_length)
    if not _printable(url):
        raise InvalidInput("The destination must be an rtmp:// or rtmps:// address.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise InvalidInput("The destination must be an rtmp:// or rtmps:// address.") from None
    if parts.scheme.lower() not in SCHEMES or not parts.hostname or port == 0:
        raise InvalidInput("The destination must be an rtmp:// or rtmps:// address.")
    if parts.username is not None or parts.password is not None or parts.fragment:
        raise InvalidInput("The destination must be an rtmp:// or rtmps:// address.")
    if not key:
        raise InvalidInput("The field %(field)s is required.", field="stream_key")
    if len(key) > limits.key_max_length:
        raise InvalidInput("The field %(field)s is too long (at most %(max)s characters).",
                           field="stream_key", max=limits.key_max_length)
    if not _printable(key) or "/" in key:
        raise InvalidInput("The stream key may not contain spaces or slashes.")
    return NewDestination(label or parts.hostname, url, key)


def push_url(url: str, key: str) -> str:
    """Where to push: the ingest URL and the stream key as its last path element (what
    YouTube, Facebook and nginx-rtmp expect)."""
    return f"{url.rstrip('/')}/{key}"
