"""Every message a user can be shown from the server code (an error's msgid, a default
message) has its French translation."""

from __future__ import annotations

import ast
from pathlib import Path

from server.i18n import Catalogs
from sessions.errors import CauserieError

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("server", "sessions", "signaling", "transcripts")


def error_names() -> set[str]:
    names: set[str] = set()
    pending: list[type[CauserieError]] = [CauserieError]
    # Import every module so every subclass is known.
    import importlib

    for package in PACKAGES:
        for path in (REPO / package).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            module = ".".join(path.relative_to(REPO).with_suffix("").parts)
            importlib.import_module(module.removesuffix(".__init__"))
    while pending:
        cls = pending.pop()
        names.add(cls.__name__)
        pending.extend(cls.__subclasses__())
    return names


def user_messages() -> set[str]:
    names = error_names()
    found: set[str] = set()
    for package in PACKAGES:
        for path in (REPO / package).rglob("*.py"):
            tree = ast.parse(path.read_text())
            for node in ast.walk(tree):
                if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                        and node.func.id in names and node.args
                        and isinstance(node.args[0], ast.Constant)
                        and isinstance(node.args[0].value, str)):
                    found.add(node.args[0].value)
                if (isinstance(node, ast.Assign) and len(node.targets) == 1
                        and isinstance(node.targets[0], ast.Name)
                        and node.targets[0].id == "default_message"
                        and isinstance(node.value, ast.Constant)):
                    found.add(str(node.value.value))
                if (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
                        and node.target.id == "default_message"
                        and isinstance(node.value, ast.Constant)):
                    found.add(str(node.value.value))
    return found


def test_messages_are_found() -> None:
    assert len(user_messages()) > 40


def test_every_user_message_is_translated_to_french() -> None:
    french = Catalogs().get("fr")
    known: dict[object, str] = getattr(french, "_catalog", {})
    missing = sorted(m for m in user_messages() if m not in known)
    assert missing == []
