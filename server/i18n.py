"""Interface languages: French first, English second, through gettext catalogs.

Msgids are English. Every `.po` file under `server/locale/<lang>/LC_MESSAGES/` is read at
start-up (one per subsystem, so teams add theirs without editing each other's) and compiled
in memory with Babel; there is no build step to forget.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from aiohttp import web
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

from sessions.errors import CauserieError

LOCALES: tuple[str, ...] = ("fr", "en")
LOCALE_DIR = Path(__file__).parent / "locale"
LANG_COOKIE = "causerie_lang"
# Parameters of a message that name a word of the interface (a form field, a state), not
# user text: they are translated too, each in its gettext context ("field", "status"...),
# so that "The field %(field)s is required." reads "Le champ « Titre » est obligatoire."
WORD_PARAMS: tuple[str, ...] = ("field", "status", "action", "state")


class Catalogs:
    def __init__(self, locale_dir: Path = LOCALE_DIR) -> None:
        self._translations: dict[str, NullTranslations] = {"en": NullTranslations()}
        for lang in LOCALES:
            files = sorted((locale_dir / lang / "LC_MESSAGES").glob("*.po"))
            if files:
                self._translations[lang] = _compile(files)

    def get(self, lang: str) -> NullTranslations:
        return self._translations.get(lang, self._translations["en"])

    def gettext(self, lang: str, message: str, **params: Any) -> str:
        text = self.get(lang).gettext(message)
        return text % self.words(lang, params) if params else text

    def ngettext(self, lang: str, singular: str, plural: str, n: int, **params: Any) -> str:
        """A message that counts (`%(count)s` is `n` unless given)."""
        text = self.get(lang).ngettext(singular, plural, n)
        return text % ({"count": n} | self.words(lang, params))

    def words(self, lang: str, params: dict[str, Any]) -> dict[str, Any]:
        translations = self.get(lang)
        return {key: translations.pgettext(key, str(value))
                if key in WORD_PARAMS and isinstance(value, str) else value
                for key, value in params.items()}

    def error_message(self, lang: str, error: CauserieError) -> str:
        return self.gettext(lang, error.message, **error.params)

    def template_functions(self, lang: str) -> dict[str, Any]:
        """`_`, `ngettext` and `pgettext` for the templates, in `lang`."""
        translations = self.get(lang)
        return {
            "_": lambda message, **params: self.gettext(lang, message, **params),
            "ngettext": lambda singular, plural, n, **params: self.ngettext(
                lang, singular, plural, n, **params),
            "pgettext": lambda context, message: translations.pgettext(context, message),
        }


def _compile(files: Iterable[Path]) -> NullTranslations:
    merged: Translations | None = None
    for path in files:
        with path.open("rb") as fh:
            catalog = read_po(fh)
        buffer = io.BytesIO()
        write_mo(buffer, catalog)
        buffer.seek(0)
        part = Translations(buffer)
        if merged is None:
            merged = part
        else:
            merged.merge(part)
    return merged if merged is not None else NullTranslations()


def negotiate(request: web.Request, default: str) -> str:
    """`?lang=` beats the cookie, which beats Accept-Language; French when nothing says."""
    asked = request.query.get("lang") or request.cookies.get(LANG_COOKIE)
    if asked in LOCALES:
        return asked
    header = request.headers.get("Accept-Language", "")
    for part in header.split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in LOCALES:
            return code
    return default
