"""`causerie retention ...`: what the scheduled retention task does, from the shell (for a
cron job, or an operator answering an erasure request).

    causerie retention run [--dry-run]
    causerie retention delete-recordings SLUG
    causerie retention erase SLUG --pseudonym NAME [--yes]
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol, TypeVar

import sqlalchemy as sa

from sessions.errors import NotFound
from sessions.storage.database import Database
from sessions.storage.tables import cafes
from transcripts.retention_service import RetentionService
from transcripts.review_service import ReviewService
from transcripts.search import open_database

T = TypeVar("T")
SHELL = "operator:shell"  # how the audit log names an action taken from the shell


class ConfigLike(Protocol):
    @property
    def data_dir(self) -> Path: ...
    @property
    def effective_database_url(self) -> str: ...


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    retention = sub.add_parser("retention", help="delete recordings when due, erase a "
                                                 "participant")
    commands = retention.add_subparsers(dest="retention_command", required=True)
    run = commands.add_parser("run", help="delete every café's recordings that are due")
    run.add_argument("--dry-run", action="store_true", help="say what is due, delete nothing")
    run.set_defaults(run=cmd_run)
    delete = commands.add_parser("delete-recordings", help="delete a café's recordings now")
    delete.add_argument("slug")
    delete.set_defaults(run=cmd_delete)
    erase = commands.add_parser("erase", help="erase a participant's contributions")
    erase.add_argument("slug")
    erase.add_argument("--pseudonym", required=True)
    erase.add_argument("--yes", action="store_true", help="erase (without it: a preview)")
    erase.set_defaults(run=cmd_erase)


def _with_service(config: ConfigLike,
                  work: Callable[[RetentionService, Database], Awaitable[T]]) -> T:
    async def go() -> T:
        db = open_database(config.effective_database_url)
        now = lambda: datetime.now(UTC)  # noqa: E731
        review = ReviewService(db, now, replay_dir=config.data_dir / "recordings",
                               data_dir=config.data_dir)
        try:
            return await work(RetentionService(db, now, data_dir=config.data_dir,
                                               review=review), db)
        finally:
            await db.close()

    return asyncio.run(go())


async def _cafe_id(db: Database, slug: str) -> int:
    async with db.connect() as conn:
        found = await conn.scalar(sa.select(cafes.c.id).where(cafes.c.slug == slug))
    if found is None:
        raise NotFound("No such café.")
    return int(found)


def cmd_run(args: argparse.Namespace, config: ConfigLike) -> int:
    report = _with_service(config, lambda service, _db: service.run(dry_run=args.dry_run))
    verb = "due" if args.dry_run else "deleted"
    for d in report.parts:
        print(f"cafe {d.cafe_id}: recordings {verb} ({d.files} files, {d.bytes} bytes)")
    for d in report.replays:
        print(f"cafe {d.cafe_id}: unpublished replay {verb} ({d.files} files)")
    if not (report.parts or report.replays):
        print("nothing is due")
    return 0


def cmd_delete(args: argparse.Namespace, config: ConfigLike) -> int:
    async def work(service: RetentionService, db: Database) -> str:
        done = await service.delete_recordings(await _cafe_id(db, args.slug), SHELL)
        return f"{done.rows} parts deleted ({done.files} files, {done.bytes} bytes)"

    print(_with_service(config, work))
    return 0


def cmd_erase(args: argparse.Namespace, config: ConfigLike) -> int:
    async def work(service: RetentionService, db: Database) -> str:
        e = await service.erase(await _cafe_id(db, args.slug), args.pseudonym, SHELL,
                                confirmed=args.yes)
        said = (f"{len(e.participants)} participant(s): {e.questions} questions, "
                f"{e.messages} chat messages, {e.segments} segments ({e.spoken_seconds} s), "
                f"{e.parts} recording parts")
        return f"erased {said}" if e.done else f"would erase {said}; run again with --yes"

    print(_with_service(config, work))
    return 0
