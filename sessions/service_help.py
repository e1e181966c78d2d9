"""The safeguarding settings of a café (help numbers, privacy notice) and the stage
leave-out requests: reads for every page, writes for the organiser (checked by the edge:
the admin pages need a login)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sessions.clock import Clock
from sessions.errors import NotFound
from sessions.help_settings import DEFAULT_HELP, CafeHelp, HelpSettings
from sessions.storage.database import Database
from sessions.storage.repo_cafes import CafeRepository
from sessions.storage.repo_help import (
    HelpRepository,
    LeaveOutRepository,
    effective_help,
)

log = logging.getLogger("causerie.safeguarding")


@dataclass(frozen=True, slots=True)
class LeaveOut:
    participant_id: int
    pseudonym: str
    requested_at: datetime
    redacted_at: datetime | None


class HelpService:
    def __init__(self, db: Database, clock: Clock,
                 default_help: HelpSettings = DEFAULT_HELP) -> None:
        self.db = db
        self.clock = clock
        self.default_help = default_help
        self.repo = HelpRepository()
        self.leave_outs = LeaveOutRepository()
        self.cafes = CafeRepository()

    async def settings(self, cafe_id: int) -> CafeHelp:
        async with self.db.connect() as conn:
            return await self.repo.load(conn, cafe_id)

    async def help_for(self, cafe_id: int) -> HelpSettings:
        """The help lines a café's pages show: its own, else the defaults."""
        async with self.db.connect() as conn:
            return await effective_help(conn, cafe_id, self.default_help)

    async def save(self, cafe_id: int, settings: CafeHelp) -> None:
        async with self.db.transaction() as conn:
            if await self.cafes.by_id(conn, cafe_id) is None:
                raise NotFound("No such café.")
            await self.repo.save(conn, cafe_id, settings, self.clock.now())
        log.info("safeguarding settings saved cafe=%s help_lines=%s", cafe_id,
                 "default" if settings.help is None else len(settings.help.lines))

    async def leave_out_requests(self, cafe_id: int) -> list[LeaveOut]:
        async with self.db.connect() as conn:
            rows = await self.leave_outs.for_cafe(conn, cafe_id)
        return [LeaveOut(*row) for row in rows]
