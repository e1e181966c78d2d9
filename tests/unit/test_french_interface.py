"""Every word the interface can show, in both languages (issue 13).

The messages are not listed by hand: they are walked out of the sources. Every template
(its gettext calls, and any text or label written in it without one), every error and ack
message the server can raise (error classes, their defaults, `message=` arguments, the
gettext calls of the server), and every word a message or template fills in (form fields,
states, themes, audit actions, roles). Each must have a French translation that uses the
curly apostrophe and a non-breaking space before `:`, `;`, `?` and `!`; a message that counts
goes through ngettext; both locales fill every placeholder.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po
from jinja2.ext import babel_extract

from server.i18n import WORD_PARAMS, Catalogs

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "server" / "templates"
PACKAGES = ("sessions", "signaling", "server", "transcripts")
LOCALE = ROOT / "server" / "locale"
GETTEXT = ("_", "gettext", "ngettext", "pgettext")
NBSP = "\u00a0\u202f"
# Text written in a template without gettext that is not a word to translate.
NOT_WORDS = {"Causerie", "English", "Français", "A−", "A+", "min", "·", "—"}


@dataclass(frozen=True)
class Message:
    msgid: str
    where: str
    context: str | None = None
    plural: str | None = None


# --- walking the sources ---------------------------------------------------------------------


def template_files() -> list[Path]:
    return sorted(TEMPLATES.rglob("*.html"))


def template_messages() -> Iterator[Message]:
    for path in template_files():
        where = str(path.relative_to(ROOT))
        with path.open("rb") as fh:
            for line, func, message, _comments in babel_extract(fh, GETTEXT, [], {}):
                if message is None:
                    continue  # _(variable): the words it takes are walked below
                parts = (message,) if isinstance(message, str) else message
                if func == "pgettext":
                    yield Message(str(parts[1]), f"{where}:{line}", context=str(parts[0]))
                elif func == "ngettext":
                    yield Message(str(parts[0]), f"{where}:{line}", plural=str(parts[1]))
                elif parts[0]:
                    yield Message(str(parts[0]), f"{where}:{line}")


class _Text(HTMLParser):
    """Collects the text a person reads in an HTML page: text between tags (not in
    scripts or styles) and the labels in attributes."""

    LABELS = ("aria-label", "title", "placeholder", "alt")

    def __init__(self) -> None:
        super().__init__()
        self.chunks: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in {"script", "style"}:
            self._skip += 1
        for name, value in attrs:
            if name in self.LABELS and value:
                self.chunks.append(value)

    def handle_endtag(self, tag: str) -> None:
        if tag in {"script", "style"}:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.chunks.append(data)


def _text_outside_gettext(path: Path) -> Iterator[str]:
    """Literal text of a template (between tags and in labels), not passed to gettext:
    every Jinja expression, statement and comment is cut out first."""
    source = re.sub(r"\{% block body_class %\}.*?\{% endblock %\}", "", path.read_text())
    source = re.sub(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", "\x00", source, flags=re.S)
    parser = _Text()
    parser.feed(source)
    for chunk in parser.chunks:
        yield from chunk.split("\x00")


def python_files() -> list[Path]:
    return sorted(p for package in PACKAGES for p in (ROOT / package).rglob("*.py")
                  if "migrations" not in p.parts)


def _error_classes(trees: list[ast.Module]) -> set[str]:
    names = {"CauserieError"}
    grew = True
    while grew:
        grew = False
        for tree in trees:
            for node in ast.walk(tree):
                if isinstance(node, ast.ClassDef) and node.name not in names and any(
                        isinstance(b, ast.Name) and b.id in names for b in node.bases):
                    names.add(node.name)
                    grew = True
    return names


def _callee(node: ast.Call) -> str:
    if isinstance(node.func, ast.Name):
        return node.func.id
    if isinstance(node.func, ast.Attribute):
        return node.func.attr
    return ""


def _string(node: ast.AST | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def _strings(node: ast.AST | None) -> list[str]:
    """The constant strings an argument may be: `"a"`, or `"a" if x else "b"`."""
    if isinstance(node, ast.IfExp):
        return _strings(node.body) + _strings(node.orelse)
    text = _string(node)
    return [text] if text else []


@dataclass
class Walked:
    messages: list[Message]
    words: dict[str, set[str]]  # WORD_PARAMS key -> the values seen in the sources


def python_messages() -> Walked:
    parsed = [(p, ast.parse(p.read_text())) for p in python_files()]
    errors = _error_classes([tree for _, tree in parsed])
    messages: list[Message] = []
    words: dict[str, set[str]] = {key: set() for key in WORD_PARAMS}
    for path, tree in parsed:
        where = str(path.relative_to(ROOT))
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef) and node.name in errors:
                for stmt in node.body:
                    if (isinstance(stmt, ast.Assign) and any(
                            isinstance(t, ast.Name) and t.id == "default_message"
                            for t in stmt.targets)):
                        text = _string(stmt.value)
                        if text:
                            messages.append(Message(text, f"{where}:{stmt.lineno}"))
            if not isinstance(node, ast.Call):
                continue
            name = _callee(node)
            if name == "add_argument":
                continue  # argparse's action="store_true" is no word of the interface
            if name == "_expect" and len(node.args) >= 3:
                # qa's transition check names the refused action: "%(action)s"
                words["action"].update(_strings(node.args[2]))
            found: list[str | None] = []
            if name in errors and node.args:
                found.append(_string(node.args[0]))
            if name in {"_t", "gettext"} and len(node.args) >= 2:
                found.append(_string(node.args[1]))
            if name == "_" and node.args:
                found.append(_string(node.args[0]))
            for keyword in node.keywords:
                if keyword.arg == "message":
                    found.append(_string(keyword.value))
                if keyword.arg in words:
                    words[keyword.arg].update(_strings(keyword.value))
            messages += [Message(text, f"{where}:{node.lineno}") for text in found if text]
    return Walked(messages, words)


def filled_words() -> list[Message]:
    """Words that a template or a message takes from the code: `_(cafe.theme)`,
    `%(status)s`, `%(field)s`... each in its gettext context when it has one."""
    from sessions.cafe import THEMES, CafeStatus
    from sessions.moderation import AuditAction
    from sessions.qa import QuestionStatus
    from sessions.roles import Role
    from signaling import messages as signaling_messages

    out = [Message(t, "sessions/cafe.py THEMES") for t in THEMES]
    out += [Message(s.value, "CafeStatus") for s in CafeStatus]
    out += [Message(a.value, "AuditAction") for a in AuditAction]
    out += [Message(r.value, "Role") for r in Role]
    walked = python_messages().words
    statuses = {s.value for s in CafeStatus} | {s.value for s in QuestionStatus}
    walked["status"] |= statuses
    # The fields of the organiser's form and of every socket.io payload.
    form = (TEMPLATES / "admin" / "cafe_form.html").read_text()
    walked["field"] |= set(re.findall(r'name="(\w+)"', form)) - {"csrf_token"}
    for model in vars(signaling_messages).values():
        fields = getattr(model, "model_fields", None)
        if isinstance(model, type) and isinstance(fields, dict):
            walked["field"] |= set(fields)
    for key, values in walked.items():
        out += [Message(v, f"%({key})s", context=key) for v in sorted(values)]
    return out


def all_messages() -> list[Message]:
    return [*template_messages(), *python_messages().messages, *filled_words()]


# --- the checks --------------------------------------------------------------------------------


def french() -> Catalog:
    merged = Catalog(locale="fr")
    for path in sorted((LOCALE / "fr" / "LC_MESSAGES").glob("*.po")):
        with path.open("rb") as fh:
            for entry in read_po(fh, locale="fr"):
                if entry.id:
                    merged[entry.id] = entry
    return merged


def french_typography(text: str) -> list[str]:
    """What is wrong with a French text: a straight apostrophe, or no non-breaking space
    before : ; ? ! (a time like 20:14 or an address like http:// is not punctuation)."""
    problems = []
    if "'" in text:
        problems.append("straight apostrophe")
    for match in re.finditer(r"[:;?!]", text):
        i = match.start()
        before, after = text[i - 1:i], text[i + 1:i + 2]
        if match.group() == ":" and (after == "/" or (before.isdigit() and after.isdigit())):
            continue
        if before and before not in NBSP:
            problems.append(f"no non-breaking space before {match.group()!r}")
    if re.search(r"«(?![\u00a0\u202f])|(?<![\u00a0\u202f])»", text):
        problems.append("no non-breaking space inside « »")
    return problems


def _placeholders(text: str) -> set[str]:
    return set(re.findall(r"%\((\w+)\)s", text))


MESSAGES = all_messages()
CATALOG = french()


def test_the_walk_finds_the_interface() -> None:
    # Not an empty walk: the room, the errors, the rate limits and the filled-in words.
    ids = {m.msgid for m in MESSAGES}
    assert "Join the café" in ids
    assert "You are asking questions too fast, please wait a minute." in ids
    assert "This input is not valid." in ids
    assert "cyber-harassment" in ids and "participant.ban" in ids
    assert any(m.context == "field" and m.msgid == "title" for m in MESSAGES)
    assert len(ids) > 300


@pytest.mark.parametrize("message", MESSAGES, ids=lambda m: m.msgid[:60])
def test_every_message_is_in_french(message: Message) -> None:
    entry = CATALOG.get(message.msgid, context=message.context)
    assert entry is not None, f"no French for {message.msgid!r} ({message.where})"
    forms = tuple(str(f or "") for f in (
        entry.string if isinstance(entry.string, (tuple, list)) else (entry.string,)))
    assert all(forms), f"empty French for {message.msgid!r} ({message.where})"
    for form in forms:
        assert not french_typography(form), (form, french_typography(form), message.where)
        assert _placeholders(form) <= _placeholders(message.msgid) | _placeholders(
            message.plural or ""), (form, message.where)
    if "%(count)s" in message.msgid or message.plural:
        assert message.plural is not None, f"counts without ngettext: {message.where}"
        assert entry.pluralizable and len(forms) == 2, f"no French plural: {message.msgid!r}"


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_both_locales_fill_every_placeholder(lang: str) -> None:
    catalogs = Catalogs()
    for message in MESSAGES:
        params = {name: "7" for name in _placeholders(message.msgid)}
        translations = catalogs.get(lang)
        if message.plural:
            for n in (1, 2):
                text = translations.ngettext(message.msgid, message.plural, n)
                assert "%(" not in text % (params | {"count": n}), message
        elif message.context:
            assert translations.pgettext(message.context, message.msgid)
        else:
            text = translations.gettext(message.msgid)
            assert "%(" not in (text % params if params else text), message
            if lang == "fr":
                assert text != message.msgid or CATALOG.get(message.msgid), message


@pytest.mark.parametrize("path", template_files(), ids=lambda p: p.name)
def test_templates_write_no_word_without_gettext(path: Path) -> None:
    for chunk in _text_outside_gettext(path):
        text = chunk.strip()
        rest = " ".join(w for w in text.split() if w not in NOT_WORDS)
        if not re.search(r"[A-Za-zÀ-ÿ]", rest):
            continue
        raise AssertionError(f"{path.name}: text outside gettext: {text!r}")


def test_catalogs_hold_one_translation_per_message() -> None:
    # The same msgid in two .po files must not read two ways (a theme spelled differently).
    seen: dict[tuple[str, str | None], tuple[str, str]] = {}
    for path in sorted((LOCALE / "fr" / "LC_MESSAGES").glob("*.po")):
        with path.open("rb") as fh:
            catalog = read_po(fh, locale="fr")
        for entry in catalog:
            if not entry.id:
                continue
            key = (str(entry.id if isinstance(entry.id, str) else entry.id[0]), entry.context)
            text = str(entry.string)
            if key in seen:
                assert seen[key][1] == text, (key, seen[key], (path.name, text))
            seen[key] = (path.name, text)


def test_typography_check_catches_what_it_should() -> None:
    assert french_typography("Le champ n'est pas rempli") == ["straight apostrophe"]
    assert french_typography("Pourquoi ?") == ["no non-breaking space before '?'"]
    assert french_typography("Pourquoi\u00a0? À 20:14, voir http://x") == []
    assert french_typography("« x »")
