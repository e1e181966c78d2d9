"""Retention and erasure, carried out: delete a café's raw recordings when they are due (or
now, at the organiser's request), delete a replay whose transcript is not published, and
erase one participant's contributions from their pseudonym.

Each action writes its rows in one transaction with an audit entry that says what went (counts
and ids, never a text or a name), deletes the files after the commit (a file already gone is
not an error: the next run finds nothing to do), and logs the same counts. The rules of when
are in `transcripts.retention`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from sessions.cafe import CafeStatus
from sessions.errors import InvalidTransition, NotFound
from sessions.moderation import AuditAction, AuditEntry
from sessions.storage.database import Database, as_utc
from sessions.storage.repo_moderation import ModerationRepository
from sessions.storage.repo_qa import lock_cafe
from sessions.storage.repo_reports import ReportRepository
from sessions.storage.tables import (
    audit_log,
    cafes,
    chat_messages,
    participants,
    questions,
    recordings,
    redactions,
    segments,
    stage_state,
    votes,
)
from transcripts.replay import REPLAY_STATUS
from transcripts.retention import ERASED, CafeKeeping, due, same_pseudonym
from transcripts.review_service import ReviewService
from transcripts.video_replay import META, REPLAY, programme_folder

log = logging.getLogger("causerie.retention")

# Keys of an audit entry's detail that hold what a participant wrote or was called.
_PERSONAL_KEYS = ("text", "original_text", "before", "after", "author", "pseudonym", "note")


@dataclass(frozen=True, slots=True)
class Deleted:
    cafe_id: int
    files: int
    bytes: int
    rows: int


@dataclass(frozen=True, slots=True)
class Erasure:
    """What erasing a pseudonym takes out of one café (before it is done: the preview)."""

    cafe_id: int
    participants: tuple[int, ...]
    questions: int
    messages: int
    segments: int
    spoken_seconds: float
    parts: int
    done: bool = False


@dataclass(slots=True)
class RetentionReport:
    parts: list[Deleted] = field(default_factory=list)
    replays: list[Deleted] = field(default_factory=list)

    @property
    def files(self) -> int:
        return sum(d.files for d in [*self.parts, *self.replays])


class RetentionService:
    def __init__(self, db: Database, now: Callable[[], datetime], *, data_dir: Path,
                 review: ReviewService) -> None:
        self.db = db
        self.now = now
        self.data_dir = data_dir
        self.review = review
        self.audit = ModerationRepository()

    # the scheduled run

    async def keeping(self, cafe_id: int | None = None) -> list[CafeKeeping]:
        """The retention facts of every ended café (or of one café)."""
        def has(status_is_replay: bool) -> sa.Exists:
            status = recordings.c.status
            return sa.exists().where(
                recordings.c.cafe_id == cafes.c.id,
                status == REPLAY_STATUS if status_is_replay else status != REPLAY_STATUS)

        query = sa.select(cafes.c.id, cafes.c.ended_at, cafes.c.recording_retention_days,
                          cafes.c.transcript_published, has(False).label("has_parts"),
                          has(True).label("has_replay"))
        query = query.where(cafes.c.id == cafe_id) if cafe_id is not None else query.where(
            cafes.c.status == CafeStatus.ENDED.value)
        async with self.db.connect() as conn:
            rows = (await conn.execute(query)).all()
        kept = []
        for r in rows:
            programme, video = self._programme(r.id)
            kept.append(CafeKeeping(
                r.id, as_utc(r.ended_at) if r.ended_at else None,
                int(r.recording_retention_days), bool(r.transcript_published),
                bool(r.has_parts) or bool(programme), bool(r.has_replay) or bool(video)))
        return kept

    async def run(self, *, dry_run: bool = False) -> RetentionReport:
        """Delete what is due in every café; `dry_run` reports it without deleting."""
        now = self.now()
        report = RetentionReport()
        for cafe in await self.keeping():
            todo = due(cafe, now)
            if todo is None:
                continue
            if dry_run:
                if todo.parts:
                    report.parts.append(Deleted(cafe.cafe_id, 0, 0, 0))
                if todo.replay:
                    report.replays.append(Deleted(cafe.cafe_id, 0, 0, 0))
                continue
            if todo.parts:
                report.parts.append(await self.delete_recordings(cafe.cafe_id, "retention"))
            if todo.replay:
                report.replays.append(await self.delete_replay(cafe.cafe_id, "retention"))
        log.info("retention run parts_cafes=%d replay_cafes=%d files=%d dry_run=%s",
                 len(report.parts), len(report.replays), report.files, dry_run)
        return report

    async def set_days(self, cafe_id: int, days: int, actor: str) -> None:
        """The café's retention period (already validated: `retention.validate_days`)."""
        async with self.db.transaction() as conn:
            await lock_cafe(conn, cafe_id)
            await conn.execute(cafes.update().where(cafes.c.id == cafe_id).values(
                recording_retention_days=days))
            await self._audit(conn, cafe_id, actor, AuditAction.RETENTION_SET, {"days": days})
        log.info("retention period set cafe=%s by=%s days=%d", cafe_id, _who(actor), days)

    async def stored(self, cafe_id: int) -> tuple[int, int]:
        """How many raw parts the café still has on disk, and their size in bytes."""
        async with self.db.connect() as conn:
            paths = list(await conn.scalars(sa.select(recordings.c.path).where(
                recordings.c.cafe_id == cafe_id, recordings.c.status != REPLAY_STATUS)))
        programme, _ = self._programme(cafe_id)
        return self._sizes([*paths, *map(str, programme)])

    # deleting

    async def delete_recordings(self, cafe_id: int, actor: str) -> Deleted:
        """Delete the café's raw recordings (every part, its row and its job); segments
        stay, detached from them. Refused while the café is live."""
        now = self.now()
        async with self.db.transaction() as conn:
            await self._not_live(conn, cafe_id, "The recordings can be deleted once the café "
                                                "has ended.")
            rows = (await conn.execute(sa.select(recordings.c.id, recordings.c.path).where(
                recordings.c.cafe_id == cafe_id,
                recordings.c.status != REPLAY_STATUS))).all()
            ids = [r.id for r in rows]
            if ids:
                await conn.execute(segments.update().where(
                    segments.c.recording_id.in_(ids)).values(recording_id=None))
                await conn.execute(recordings.delete().where(recordings.c.id.in_(ids)))
            await conn.execute(cafes.update().where(cafes.c.id == cafe_id).values(
                recordings_deleted_at=now))
            programme, _ = self._programme(cafe_id)
            files, size = self._sizes([*(r.path for r in rows), *map(str, programme)])
            await self._audit(conn, cafe_id, actor, AuditAction.RECORDINGS_DELETE,
                              {"parts": len(ids), "files": files, "bytes": size})
        self._unlink([*(r.path for r in rows), *map(str, programme)])
        log.info("recordings deleted cafe=%s by=%s parts=%d files=%d bytes=%d", cafe_id,
                 _who(actor), len(ids), files, size)
        return Deleted(cafe_id, files, size, len(ids))

    async def delete_replay(self, cafe_id: int, actor: str) -> Deleted:
        async with self.db.transaction() as conn:
            await self._not_live(conn, cafe_id, "The replay can be deleted once the café has "
                                                "ended.")
            rows = (await conn.execute(sa.select(recordings.c.id, recordings.c.path).where(
                recordings.c.cafe_id == cafe_id,
                recordings.c.status == REPLAY_STATUS))).all()
            await conn.execute(recordings.delete().where(
                recordings.c.id.in_([r.id for r in rows])))
            _, video = self._programme(cafe_id)
            files, size = self._sizes([*(r.path for r in rows), *map(str, video)])
            await self._audit(conn, cafe_id, actor, AuditAction.REPLAY_DELETE,
                              {"files": files, "bytes": size})
        self._unlink([*(r.path for r in rows), *map(str, video)])
        log.info("replay deleted cafe=%s by=%s files=%d bytes=%d", cafe_id, _who(actor),
                 files, size)
        return Deleted(cafe_id, files, size, len(rows))

    # erasing one participant

    async def erase(self, cafe_id: int, pseudonym: str, actor: str, *,
                    confirmed: bool) -> Erasure:
        """Erase what the participants of this café called `pseudonym` left: their questions
        and votes, chat messages, transcript segments, their recorded parts, their voice in
        the replay; their name and texts in the moderation log become "[effacé]". Without
        `confirmed`, only says what would go."""
        async with self.db.transaction() as conn:
            await self._not_live(conn, cafe_id, "A participant's contributions can be erased "
                                                "once the café has ended.")
            who = [r.id for r in await conn.execute(sa.select(
                participants.c.id, participants.c.pseudonym).where(
                participants.c.cafe_id == cafe_id)) if same_pseudonym(r.pseudonym, pseudonym)]
            if not who:
                raise NotFound("No participant of this café goes by this pseudonym.")
            asked = list(await conn.scalars(sa.select(questions.c.id).where(
                questions.c.author_id.in_(who))))
            wrote = list(await conn.scalars(sa.select(chat_messages.c.id).where(
                chat_messages.c.author_id.in_(who))))
            parts = (await conn.execute(sa.select(recordings.c.id, recordings.c.path).where(
                recordings.c.participant_id.in_(who),
                recordings.c.status != REPLAY_STATUS))).all()
            spoken = await self._spoken(conn, cafe_id, pseudonym, [p.id for p in parts])
            preview = Erasure(cafe_id, tuple(who), len(asked), len(wrote), len(spoken),
                              round(sum(end - start for _, start, end in spoken), 1),
                              len(parts))
            if not confirmed:
                return preview
            await conn.execute(votes.delete().where(votes.c.participant_id.in_(who)))
            await conn.execute(questions.delete().where(questions.c.id.in_(asked)))
            await conn.execute(chat_messages.delete().where(chat_messages.c.id.in_(wrote)))
            await conn.execute(segments.delete().where(
                segments.c.id.in_([s for s, _, _ in spoken])))
            await conn.execute(recordings.delete().where(
                recordings.c.id.in_([p.id for p in parts])))
            await conn.execute(stage_state.delete().where(stage_state.c.participant_id.in_(who)))
            await conn.execute(participants.update().where(participants.c.id.in_(who)).values(
                pseudonym=ERASED))
            scrubbed = await self._scrub_audit(conn, cafe_id, who, asked, wrote)
            scrubbed += await ReportRepository().erase_participants(conn, cafe_id, who, ERASED)
            others = await conn.scalar(sa.select(sa.func.count()).where(
                recordings.c.cafe_id == cafe_id, recordings.c.status != REPLAY_STATUS))
            programme, video = self._programme(cafe_id)
            if spoken and (not others or programme or video):
                # The parts the replay was mixed from are gone (deleted by retention), or the
                # video replay carries the mixed programme: their voice can only be silenced
                # there (the video replay is rebuilt, or no longer played when its programme
                # is gone: `transcripts.video_replay`).
                await conn.execute(redactions.insert(), [
                    {"cafe_id": cafe_id, "start_seconds": start, "end_seconds": end,
                     "actor": actor, "applied": False, "created_at": self.now()}
                    for _, start, end in spoken])
            await self._audit(conn, cafe_id, actor, AuditAction.PARTICIPANT_ERASE, {
                "participants": list(who), "questions": len(asked), "messages": len(wrote),
                "segments": len(spoken), "parts": len(parts), "log_entries": scrubbed})
        self._unlink(p.path for p in parts)
        if spoken or parts:
            await self.review.rebuild_replay(cafe_id)
        log.info("participant erased cafe=%s by=%s participants=%s questions=%d messages=%d "
                 "segments=%d parts=%d", cafe_id, _who(actor), list(who), len(asked),
                 len(wrote), len(spoken), len(parts))
        return Erasure(preview.cafe_id, preview.participants, preview.questions,
                       preview.messages, preview.segments, preview.spoken_seconds,
                       preview.parts, done=True)

    async def _spoken(self, conn: AsyncConnection, cafe_id: int, pseudonym: str,
                      part_ids: list[int]) -> list[tuple[int, float, float]]:
        """Their segments: those of their parts, and, for parts already deleted, those the
        transcript attributes to that name."""
        rows = (await conn.execute(sa.select(
            segments.c.id, segments.c.recording_id, segments.c.speaker,
            segments.c.start_seconds, segments.c.end_seconds).where(
            segments.c.cafe_id == cafe_id))).all()
        return [(r.id, float(r.start_seconds), float(r.end_seconds)) for r in rows
                if r.recording_id in part_ids
                or (r.recording_id is None and same_pseudonym(r.speaker, pseudonym))]

    async def _scrub_audit(self, conn: AsyncConnection, cafe_id: int, who: list[int],
                           asked: list[int], wrote: list[int]) -> int:
        targets = {f"participant:{i}" for i in who} | {f"question:{i}" for i in asked} | {
            f"chat:{i}" for i in wrote}
        suffixes = tuple(f"#{i}" for i in who)
        count = 0
        for row in (await conn.execute(sa.select(
                audit_log.c.id, audit_log.c.actor, audit_log.c.target, audit_log.c.detail).where(
                audit_log.c.cafe_id == cafe_id))).all():
            detail: dict[str, Any] = dict(row.detail or {})
            about = row.target in targets or detail.get("author_id") in who
            # An organiser's label carries their account id, not a participant's.
            acted = row.actor.endswith(suffixes) and not row.actor.startswith("organiser:")
            if not (about or acted):
                continue
            if about:
                detail = {k: (ERASED if k in _PERSONAL_KEYS and v else v)
                          for k, v in detail.items()}
            actor = row.actor
            if acted:  # role:pseudonym#id -> role:[effacé]#id
                role, _, rest = actor.partition(":")
                actor = f"{role}:{ERASED}#{rest.rsplit('#', 1)[-1]}"
            await conn.execute(audit_log.update().where(audit_log.c.id == row.id).values(
                detail=detail, actor=actor))
            count += 1
        return count

    # shared steps

    async def _not_live(self, conn: AsyncConnection, cafe_id: int, message: str) -> None:
        if await lock_cafe(conn, cafe_id) is CafeStatus.LIVE:
            raise InvalidTransition(message)

    async def _audit(self, conn: AsyncConnection, cafe_id: int, actor: str,
                     action: AuditAction, detail: dict[str, Any]) -> None:
        await self.audit.audit(conn, AuditEntry(cafe_id, actor, action, f"cafe:{cafe_id}",
                                                detail, self.now()))

    def _programme(self, cafe_id: int) -> tuple[list[Path], list[Path]]:
        """The café's programme files (`transcripts.video_replay`): the raw segments of
        every run, and the video replay made from them."""
        folder = programme_folder(self.data_dir, cafe_id)
        if not folder.is_dir():
            return [], []
        replay = [p for p in (folder / REPLAY, folder / META) if p.is_file()]
        raw = [p for p in folder.rglob("*") if p.is_file() and p not in replay]
        return raw, replay

    def _file(self, stored: str) -> Path:
        """A stored path as the recorder wrote it: absolute, or relative to the working
        directory, else to the data directory (as `transcripts.export.recording_file`)."""
        path = Path(stored)
        if path.is_absolute() or path.is_file():
            return path
        return self.data_dir / path

    def _sizes(self, paths: Iterable[str]) -> tuple[int, int]:
        found = [p for p in map(self._file, paths) if p.is_file()]
        return len(found), sum(p.stat().st_size for p in found)

    def _unlink(self, paths: Iterable[str]) -> None:
        for path in map(self._file, paths):
            path.unlink(missing_ok=True)


def _who(actor: str) -> str:
    """The actor as logs may name it: its role and id, never its name."""
    role, _, rest = actor.partition(":")
    return f"{role}#{rest.rsplit('#', 1)[-1]}" if "#" in rest else role


async def retention_loop(service: RetentionService, interval_minutes: int) -> None:
    """The scheduled task: a run at start-up, then every `interval_minutes`."""
    while True:
        try:
            await service.run()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("retention run failed")
        await asyncio.sleep(interval_minutes * 60)


__all__ = ["Deleted", "Erasure", "RetentionReport", "RetentionService", "retention_loop"]
