"""Redirect targets taken from the request (`?next=`): only a path on this site passes.

The check is made on the URL aiohttp will actually send in `Location` (yarl drops tabs and
newlines, so `/\t/evil.example` would leave as `//evil.example`), not on the raw parameter.
"""

from __future__ import annotations

from yarl import URL

MAX_LENGTH = 2000


def local_path(value: str, default: str = "/") -> str:
    """`value` as the `Location` aiohttp would send, when a browser reads it as a path on
    this origin; `default` otherwise."""
    if not value or len(value) > MAX_LENGTH:
        return default
    # Browsers drop ASCII tabs/newlines and read a backslash as a slash: refuse them outright.
    if any(ch in "\\\t\n\r" or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        return default
    try:
        sent = str(URL(value))
    except ValueError:
        return default
    if not _is_local(sent):
        return default
    try:
        again = str(URL(sent))  # what HTTPSeeOther does with it
    except ValueError:
        return default
    return sent if again == sent and _is_local(again) else default


def _is_local(sent: str) -> bool:
    if not sent.startswith("/") or sent.startswith("//") or "\\" in sent:
        return False
    url = URL(sent)
    return not url.scheme and url.host is None and not url.is_absolute()
