"""Sections of a café's admin page that come from other packages: the transcript's
progress (transcripts), the moderation audit log (sessions) and the simulcast destinations
(server.views_simulcast)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from server.keys import CATALOGS, SERVICES
from server.views_simulcast import simulcast_section
from server.web_errors import LANG
from sessions.actors import Actor
from sessions.cafe import Cafe
from sessions.roles import Role
from transcripts.keys import TRANSCRIPTS

AUDIT_ROWS = 200


async def transcript_progress(request: web.Request, cafe: Cafe) -> dict[str, Any]:
    repo = request.app[TRANSCRIPTS].repo
    jobs = await repo.jobs(cafe.id)
    parts = await repo.part_checks(cafe.id)
    return {
        "id": "transcript-progress",
        "title": _t(request, "Transcription"),
        "template": "admin/_transcript_progress.html",
        "context": {
            "progress": round(100 * await repo.cafe_progress(cafe.id)),
            "jobs": jobs,
            "failed": [j for j in jobs if j.status == "failed"],
            # Per speaker and part: seconds of speech against seconds transcribed.
            "parts": parts,
            "short": [p for p in parts if p.short],
        },
    }


async def audit_log(request: web.Request, cafe: Cafe) -> dict[str, Any]:
    # The page is only reached by a logged-in organiser (views_admin checks it); the service
    # checks the permission table again.
    organiser = Actor(participant_id=0, cafe_id=cafe.id, role=Role.ORGANISER,
                      pseudonym="organiser")
    entries = await request.app[SERVICES].moderation.audit_log(organiser, cafe.id,
                                                               limit=AUDIT_ROWS)
    return {
        "id": "audit-log",
        "title": _t(request, "Moderation log"),
        "template": "admin/_audit_log.html",
        "context": {"entries": entries},
    }


def _t(request: web.Request, message: str) -> str:
    return request.app[CATALOGS].gettext(request[LANG], message)


SECTIONS = (transcript_progress, audit_log, simulcast_section)
