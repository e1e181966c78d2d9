"""The pure domain modules import no transport, no media stack and no database driver."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

PURE = ["roles", "cafe", "qa", "stage", "moderation", "events", "errors", "clock",
        "attendance", "figures"]
FORBIDDEN = ["aiohttp", "socketio", "engineio", "aiortc", "redis", "sqlalchemy", "asyncpg",
             "aiosqlite", "limits"]

PROBE = """
import importlib, json, sys
importlib.import_module(sys.argv[1])
print(json.dumps(sorted({name.split(".")[0] for name in sys.modules})))
"""


@pytest.mark.parametrize("module", PURE)
def test_pure_module_imports_no_io_library(module: str) -> None:
    # A fresh interpreter: in this one, other tests have imported everything already.
    out = subprocess.run([sys.executable, "-c", PROBE, f"sessions.{module}"],
                         capture_output=True, text=True, check=True, timeout=60)
    loaded = set(json.loads(out.stdout))
    assert loaded.isdisjoint(FORBIDDEN), sorted(loaded & set(FORBIDDEN))
