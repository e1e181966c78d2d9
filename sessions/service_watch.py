"""The watched-word lists of cafés and associations, and the matcher each café applies to
questions, chat messages and pseudonyms (`sessions.watchwords`).

A café's terms are its association's default list (the shipped French list until one of
the association's organisers edits it) followed by the café's own list, whose actions win
for a term in both. The organiser's pages call the setters (they check the login and that
the organiser acts for that association or café)."""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncConnection

from sessions.clock import Clock
from sessions.errors import InvalidInput
from sessions.storage.database import Database
from sessions.storage.repo_watch import WatchRepository
from sessions.watchwords import Matcher, Verdict, WatchAction, WatchTerm, merged, parse_list
from sessions.watchwords_fr import DEFAULT_LIST_FR

log = logging.getLogger("causerie.watch")

CACHE_SIZE = 64


class WatchService:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock
        self.repo = WatchRepository()
        # compiled matchers by the text of their lists (a list changes rarely)
        self._cache: dict[tuple[str, str], Matcher] = {}

    # reading

    async def default_list(self, association_id: int | None) -> str:
        """The association's default list (the shipped one until edited)."""
        if association_id is None:
            return DEFAULT_LIST_FR
        async with self.db.connect() as conn:
            body = await self.repo.body(conn, association_id=association_id)
        return DEFAULT_LIST_FR if body is None else body

    async def cafe_list(self, cafe_id: int) -> str:
        async with self.db.connect() as conn:
            return await self.repo.body(conn, cafe_id=cafe_id) or ""

    async def cafe_terms(self, cafe_id: int) -> list[WatchTerm]:
        """The café's own terms (what still reads of them)."""
        return _parsed(await self.cafe_list(cafe_id))

    async def matcher_in(self, conn: AsyncConnection, cafe_id: int) -> Matcher:
        """The café's matcher, read in the caller's transaction."""
        association = await self.repo.cafe_association(conn, cafe_id)
        default = (None if association is None
                   else await self.repo.body(conn, association_id=association))
        own = await self.repo.body(conn, cafe_id=cafe_id) or ""
        return self._compiled(DEFAULT_LIST_FR if default is None else default, own)

    async def matcher(self, cafe_id: int) -> Matcher:
        async with self.db.connect() as conn:
            return await self.matcher_in(conn, cafe_id)

    async def verdict(self, cafe_id: int, text: str) -> Verdict:
        return (await self.matcher(cafe_id)).verdict(text)

    def _compiled(self, default: str, own: str) -> Matcher:
        key = (default, own)
        found = self._cache.get(key)
        if found is None:
            found = Matcher(merged(_parsed(default), _parsed(own)))
            if len(self._cache) >= CACHE_SIZE:
                self._cache.pop(next(iter(self._cache)))
            self._cache[key] = found
        return found

    # the organiser's pages

    async def save_cafe_list(self, cafe_id: int, body: str) -> list[WatchTerm]:
        terms = parse_list(body)
        async with self.db.transaction() as conn:
            await self.repo.save(conn, _normal(body), self.clock.now(), cafe_id=cafe_id)
        log.info("watched words saved cafe=%s terms=%s", cafe_id, len(terms))
        return terms

    async def save_default_list(self, association_id: int, body: str) -> list[WatchTerm]:
        """Replace the association's default list (the caller checked that the organiser
        administers this association)."""
        terms = parse_list(body)
        async with self.db.transaction() as conn:
            await self.repo.save(conn, _normal(body), self.clock.now(),
                                 association_id=association_id)
        log.info("default watched words saved association=%s terms=%s", association_id,
                 len(terms))
        return terms


def _normal(body: str) -> str:
    return "\n".join(line.rstrip() for line in body.splitlines()).strip() + "\n"


def _parsed(body: str) -> list[WatchTerm]:
    try:
        return parse_list(body)
    except InvalidInput:  # stored before a bound was lowered: keep what still reads
        log.warning("a stored watched-word list no longer parses; its valid lines are used")
        terms: list[WatchTerm] = []
        for line in body.splitlines():
            try:
                terms.extend(parse_list(line))
            except InvalidInput:
                continue
        return terms


def refused_message(verdict: Verdict) -> InvalidInput:
    """The error of a text a watched word blocks, naming the word(s)."""
    blocked = sorted({m.term for m in verdict.matches if m.action is WatchAction.BLOCK})
    return InvalidInput("This text contains “%(terms)s”, which is not accepted in this café. "
                        "Please rephrase it.", terms=", ".join(blocked))
