"""What the server logs at ERROR during a test: the fuzz tests assert it stays empty."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager


class ServerErrors(logging.Handler):
    """Every ERROR record (tracebacks included) anything in the server logs."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def take(self) -> list[str]:
        found = [f"{r.name}: {r.getMessage()}" for r in self.records]
        self.records.clear()
        return found


@contextmanager
def capture_server_errors() -> Iterator[ServerErrors]:
    """A `ServerErrors` on the root logger for the duration of the block."""
    handler = ServerErrors()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)


class Everything(logging.Handler):
    """Every record at `level` and above, from any logger (for scanning what a scenario
    logged)."""

    def __init__(self, level: int = logging.INFO) -> None:
        super().__init__(level)
        self.records: list[logging.LogRecord] = []
        self.formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def lines(self) -> list[str]:
        return [self.format(r) for r in self.records]


@contextmanager
def capture_everything(level: int = logging.INFO) -> Iterator[Everything]:
    """The loggers as `causerie serve` sets them (`server.logs.configure`: the root at
    WARNING, `causerie` at `level`), and, stricter, the web and socket libraries at `level`
    too (aiohttp, socket.io, engine.io: what sees addresses and payloads); every record
    collected for the block."""
    handler = Everything(level)
    root = logging.getLogger()
    levels = {"": logging.WARNING, "causerie": level, "aiohttp": level,
              "aiohttp.access": level, "aiohttp.server": level, "aiohttp.web": level,
              "socketio": level, "engineio": level}
    saved = {name: logging.getLogger(name or None).level for name in levels}
    for name, wanted in levels.items():
        logging.getLogger(name or None).setLevel(wanted)
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        for name, was in saved.items():
            logging.getLogger(name or None).setLevel(was)
