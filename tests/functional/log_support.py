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
