"""A café's simulcast destinations: add (validated, the key sealed), remove, list for the
admin page (masked keys), and the push targets for the programme (keys opened)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sessions.clock import Clock
from sessions.destinations import (
    Destination,
    Sealer,
    push_url,
    validate_destination,
)
from sessions.errors import NotFound
from sessions.settings import DestinationLimits
from sessions.storage.database import Database
from sessions.storage.repo_destinations import DestinationRepository
from sessions.storage.repo_qa import lock_cafe

log = logging.getLogger("causerie.simulcast")


@dataclass(frozen=True, slots=True)
class PushTarget:
    """A destination with its full push URL (the key in it): for the pusher only, never
    for a page or a log."""

    destination: Destination
    url: str  # "" when the stored key cannot be opened (the secret changed)


class DestinationService:
    def __init__(self, db: Database, clock: Clock, sealer: Sealer,
                 limits: DestinationLimits) -> None:
        self.db = db
        self.clock = clock
        self.sealer = sealer
        self.limits = limits
        self.repo = DestinationRepository()

    async def of_cafe(self, cafe_id: int) -> list[Destination]:
        async with self.db.connect() as conn:
            return await self.repo.of_cafe(conn, cafe_id)

    async def add(self, cafe_id: int, label: str, url: str, key: str) -> Destination:
        async with self.db.transaction() as conn:
            await lock_cafe(conn, cafe_id)  # two forms at once: the bound still holds
            existing = await self.repo.count(conn, cafe_id)
            new = validate_destination(label, url, key, existing=existing, limits=self.limits)
            now = self.clock.now()
            destination_id = await self.repo.add(conn, cafe_id, new.label, new.url,
                                                 self.sealer.seal(new.key), new.key[-4:], now)
        log.info("destination added cafe=%s destination=%s", cafe_id, destination_id)
        return Destination(destination_id, cafe_id, new.label, new.url, new.key[-4:], now)

    async def remove(self, cafe_id: int, destination_id: int) -> None:
        async with self.db.transaction() as conn:
            if not await self.repo.remove(conn, cafe_id, destination_id):
                raise NotFound()
        log.info("destination removed cafe=%s destination=%s", cafe_id, destination_id)

    async def targets(self, cafe_id: int) -> list[PushTarget]:
        async with self.db.connect() as conn:
            rows = await self.repo.sealed(conn, cafe_id)
        targets = []
        for destination, sealed in rows:
            try:
                url = push_url(destination.url, self.sealer.open(sealed))
            except ValueError:
                log.warning("destination key unreadable cafe=%s destination=%s", cafe_id,
                            destination.id)
                url = ""
            targets.append(PushTarget(destination, url))
        return targets
