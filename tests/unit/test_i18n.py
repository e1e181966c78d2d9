"""Every text a template shows has its French translation (French is the default)."""

from __future__ import annotations

import re
from pathlib import Path

from server.i18n import Catalogs

TEMPLATES = Path(__file__).resolve().parents[2] / "server" / "templates"
MSGID = re.compile(r"""_\(\s*(['"])(.+?)\1\s*[,)]""")


def template_msgids() -> set[str]:
    found: set[str] = set()
    for path in TEMPLATES.rglob("*.html"):
        found.update(
            match.group(2).replace('\\"', '"').replace("\\'", "'")
            for match in MSGID.finditer(path.read_text()))
    return found


def test_templates_have_msgids() -> None:
    assert len(template_msgids()) > 100


def test_every_template_text_is_translated_to_french() -> None:
    french = Catalogs().get("fr")
    known: dict[object, str] = getattr(french, "_catalog", {})
    missing = sorted(m for m in template_msgids() if m not in known)
    assert missing == []


def test_english_is_the_msgid() -> None:
    assert Catalogs().gettext("en", "Live now") == "Live now"
    assert Catalogs().gettext("fr", "Live now") == "En direct"
