"""Structured logs: one logger per subsystem (`causerie.<subsystem>`), text or JSON lines.

Nothing personal at INFO and above: ids only, never a pseudonym, a question or chat text,
an e-mail or an Internet address. aiohttp's own access log writes the client's address and
the whole request line (a search's words, an invitation's token in the query string): it is
replaced by `PrivateAccessLogger` (method, path without its query, status, size, time).
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from aiohttp.abc import AbstractAccessLogger

ACCESS_LOGGER = "causerie.access"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure(level: str, fmt: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    logging.getLogger("causerie").setLevel(level)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


class PrivateAccessLogger(AbstractAccessLogger):
    """One line per request without the client's address or the query string."""

    def log(self, request: Any, response: Any, time: float) -> None:
        self.logger.info("%s %s %s %s %.3f", request.method, request.path[:200],
                         response.status, response.body_length, time)

    @property
    def enabled(self) -> bool:
        return self.logger.isEnabledFor(logging.INFO)


def access_log_options() -> dict[str, Any]:
    """What `web.run_app` / `AppRunner` take for the access log (`serve` and the tests)."""
    return {"access_log_class": PrivateAccessLogger,
            "access_log": logging.getLogger(ACCESS_LOGGER)}
