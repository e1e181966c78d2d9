"""A café's safeguarding evidence for the organiser: its reports and its moderation log, as
JSON and CSV, with times in the café's zone (config `timezone`), pseudonyms, texts and
actions. Pure over what the services returned (no I/O here)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sessions.cafe import Cafe
from sessions.moderation import AuditEntry
from sessions.reports import Report

CSV_COLUMNS = ("record", "id", "time", "actor", "role", "action", "target", "pseudonym",
               "text", "reason", "note", "resolution")
# A spreadsheet runs a cell that starts with one of these as a formula: such a cell of the
# CSV gets a leading apostrophe (the JSON keeps every text as it was).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _time(value: datetime | None, tz: ZoneInfo) -> str | None:
    return value.astimezone(tz).isoformat() if value else None


def _actor(label: str) -> tuple[str, str]:
    """"moderator:Julie#4" -> ("Julie", "moderator")."""
    role, _, rest = label.partition(":")
    return (rest.rsplit("#", 1)[0], role) if rest else (label, "")


def report_record(r: Report, tz: ZoneInfo) -> dict[str, Any]:
    return {
        "id": r.id, "time": _time(r.created_at, tz), "kind": r.reported.kind.value,
        "target_id": r.reported.target_id, "pseudonym": r.reported.pseudonym,
        "text": r.reported.excerpt, "reason": r.reason.value, "note": r.note,
        "reporter_id": r.reporter_id, "status": r.status.value,
        "resolution": r.resolution.value if r.resolution else None,
        "resolved_by": _actor(r.resolved_by)[0] if r.resolved_by else None,
        "resolved_at": _time(r.resolved_at, tz),
    }


def log_record(e: AuditEntry, tz: ZoneInfo) -> dict[str, Any]:
    name, role = _actor(e.actor)
    d = e.detail
    return {
        "id": e.id, "time": _time(e.created_at, tz), "actor": name,
        "role": d.get("role", role), "action": e.action.value, "target": e.target,
        "pseudonym": d.get("author") or d.get("pseudonym"), "text": d.get("text"),
        "reason": d.get("reason"), "detail": d,
    }


def as_json(cafe: Cafe, reports: Sequence[Report], log: Sequence[AuditEntry], *,
            timezone: str, now: datetime) -> str:
    tz = ZoneInfo(timezone)
    return json.dumps({
        "cafe": {"slug": cafe.slug, "title": cafe.title, "timezone": timezone},
        "exported_at": _time(now, tz),
        "reports": [report_record(r, tz) for r in reports],
        "moderation_log": [log_record(e, tz) for e in sorted(log, key=_order)],
    }, ensure_ascii=False, indent=2, default=str)


def as_csv(reports: Sequence[Report], log: Sequence[AuditEntry], *, timezone: str) -> str:
    tz = ZoneInfo(timezone)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for r in reports:
        rec = report_record(r, tz)
        writer.writerow(_cells(["report", rec["id"], rec["time"], rec["resolved_by"] or "",
                                "", rec["status"], f"{rec['kind']}:{rec['target_id']}",
                                rec["pseudonym"], rec["text"], rec["reason"], rec["note"],
                                rec["resolution"] or ""]))
    for e in sorted(log, key=_order):
        rec = log_record(e, tz)
        writer.writerow(_cells(["moderation", rec["id"], rec["time"], rec["actor"],
                                rec["role"], rec["action"], rec["target"],
                                rec["pseudonym"] or "", rec["text"] or "", rec["reason"] or "",
                                e.detail.get("note", ""), e.detail.get("resolution") or ""]))
    return out.getvalue()


def _order(e: AuditEntry) -> tuple[datetime, int]:
    return (e.created_at, e.id or 0)


def _cells(values: list[Any]) -> list[str]:
    cells = ["" if v is None else str(v) for v in values]
    return [f"'{c}" if c.startswith(FORMULA_STARTS) else c for c in cells]
