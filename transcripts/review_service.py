"""The review service: a reviewer (the organiser, or the café's own expert) corrects, splits,
joins and redacts segments of a café's transcript, and the organiser publishes or withdraws
it.

Each action checks the permission table, locks the café (one review step at a time per
café), checks the segment's version (optimistic locking: a reviewer who edited an older
version gets `EditConflict` with the segment as it now is, never a silent overwrite),
applies the pure step of `transcripts.review`, writes the segment (the search index follows
in the same transaction: triggers on SQLite, a generated column on PostgreSQL) and one audit
row with the text before and after. A redaction then rebuilds the café's replay with the
stretch silenced; until that is done the café's audio is not served at all
(`audio_pending`).
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from sessions import cafe as cafe_rules
from sessions.actors import Actor
from sessions.cafe import CafeStatus
from sessions.errors import InvalidInput, InvalidTransition, NotFound
from sessions.moderation import AuditAction
from sessions.roles import Permission
from sessions.service_guards import audit_entry
from sessions.storage.database import Database
from sessions.storage.repo_cafes import CafeRepository
from sessions.storage.repo_help import LeaveOutRepository
from sessions.storage.repo_moderation import ModerationRepository
from sessions.storage.repo_qa import lock_cafe
from sessions.storage.tables import recordings, redactions, segments
from transcripts import review
from transcripts.errors import PublishUnconfirmed
from transcripts.replay import REPLAY_STATUS, build_replay, silence_replay
from transcripts.repository import TranscriptRepository

log = logging.getLogger("causerie.transcripts")
P = Permission


class EditConflict(InvalidTransition):
    code = "edit_conflict"
    default_message = ("Someone else changed this segment in the meantime; it is shown as "
                       "they left it. Make your change again if it is still needed.")

    def __init__(self, current: list[ReviewSegment]) -> None:
        super().__init__()
        self.current = current


@dataclass(frozen=True, slots=True)
class ReviewSegment:
    id: int
    version: int
    start: float
    end: float
    speaker: str
    text: str
    words: tuple[review.Word, ...]

    @property
    def draft(self) -> review.Draft:
        return review.Draft(self.start, self.end, self.speaker, self.text, self.words)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "version": self.version, "start": self.start,
                "end": self.end, "speaker": self.speaker, "text": self.text}


@dataclass(frozen=True, slots=True)
class Change:
    """What an action changed, for the page to redraw: segments written, segments gone."""

    segments: list[ReviewSegment]
    removed: list[int]

    def to_json(self) -> dict[str, Any]:
        return {"ok": True, "segments": [s.to_json() for s in self.segments],
                "removed": self.removed}


def _words(raw: Any) -> tuple[review.Word, ...]:
    out: list[review.Word] = []
    for item in raw if isinstance(raw, list) else []:
        try:
            start, end, word, probability = item
            out.append((float(start), float(end), str(word), float(probability)))
        except (TypeError, ValueError):
            continue
    return tuple(out)


def _segment(row: Any) -> ReviewSegment:
    return ReviewSegment(row.id, row.version, float(row.start_seconds),
                         float(row.end_seconds), row.speaker, row.text, _words(row.words))


def _stored(draft: review.Draft) -> dict[str, Any]:
    return {"start_seconds": draft.start, "end_seconds": draft.end, "speaker": draft.speaker,
            "text": draft.text, "words": [list(w) for w in draft.words]}


def _shown(draft: review.Draft | ReviewSegment) -> dict[str, Any]:
    """What the audit keeps of a segment: enough to see and undo the change."""
    return {"start": round(draft.start, 3), "end": round(draft.end, 3),
            "speaker": draft.speaker, "text": draft.text}


_ORDER = (segments.c.start_seconds, segments.c.recording_id, segments.c.seq, segments.c.id)


class ReviewService:
    def __init__(self, db: Database, now: Callable[[], datetime], *,
                 replay_dir: Path | None, data_dir: Path | None = None) -> None:
        self.db = db
        self.now = now
        self.replay_dir = replay_dir  # None: redacted audio cannot be rebuilt, never served
        self.data_dir = data_dir
        self.transcripts = TranscriptRepository(db, now)
        self.audit = ModerationRepository()
        self._rebuilding: defaultdict[int, asyncio.Lock] = defaultdict(asyncio.Lock)

    # reading

    async def segments(self, actor: Actor) -> list[ReviewSegment]:
        actor.require(P.REVIEW_TRANSCRIPT)
        async with self.db.connect() as conn:
            rows = await conn.execute(sa.select(segments).where(
                segments.c.cafe_id == actor.cafe_id).order_by(*_ORDER))
            return [_segment(r) for r in rows]

    # editing

    async def edit(self, actor: Actor, segment_id: int, version: int, *,
                   text: str | None = None, speaker: str | None = None) -> Change:
        actor.require(P.REVIEW_TRANSCRIPT)
        if text is None and speaker is None:
            raise InvalidInput("Nothing to change.")
        async with self.db.transaction() as conn:
            published = await self._guard(conn, actor)
            before = await self._current(conn, actor, segment_id, version)
            after = review.edit(before.draft, text=text, speaker=speaker)
            saved = await self._write(conn, before, after)
            await self._audit(conn, actor, AuditAction.TRANSCRIPT_EDIT, segment_id,
                              {"before": _shown(before), "after": _shown(after),
                               "published": published})
        log.info("transcript segment edited cafe=%s segment=%s actor=%s", actor.cafe_id,
                 segment_id, actor.role.value)
        return Change([saved], [])

    async def split(self, actor: Actor, segment_id: int, version: int, at: int) -> Change:
        actor.require(P.REVIEW_TRANSCRIPT)
        async with self.db.transaction() as conn:
            published = await self._guard(conn, actor)
            before = await self._current(conn, actor, segment_id, version)
            first, second = review.split(before.draft, at)
            row = (await conn.execute(sa.select(segments.c.recording_id).where(
                segments.c.id == segment_id))).one()
            seq = int(await conn.scalar(sa.select(sa.func.coalesce(sa.func.max(
                segments.c.seq), 0) + 1).where(
                segments.c.recording_id == row.recording_id)) or 1)
            saved = await self._write(conn, before, first)
            new_id = int(await conn.scalar(segments.insert().values(
                cafe_id=actor.cafe_id, recording_id=row.recording_id, seq=seq,
                **_stored(second)).returning(segments.c.id)))
            added = await self._get(conn, actor, new_id)
            await self._audit(conn, actor, AuditAction.TRANSCRIPT_SPLIT, segment_id,
                              {"before": _shown(before), "after": _shown(first),
                               "new": new_id, "new_after": _shown(second),
                               "published": published})
        log.info("transcript segment split cafe=%s segment=%s new=%s", actor.cafe_id,
                 segment_id, new_id)
        return Change([saved, added], [])

    async def join(self, actor: Actor, segment_id: int, version: int, next_id: int,
                   next_version: int) -> Change:
        """Join a segment with the one that follows it on the page."""
        actor.require(P.REVIEW_TRANSCRIPT)
        async with self.db.transaction() as conn:
            published = await self._guard(conn, actor)
            first = await self._current(conn, actor, segment_id, version)
            second = await self._current(conn, actor, next_id, next_version)
            order = list(await conn.scalars(sa.select(segments.c.id).where(
                segments.c.cafe_id == actor.cafe_id).order_by(*_ORDER)))
            at = order.index(first.id)
            following = order[at + 1] if at + 1 < len(order) else None
            if following != next_id:
                raise InvalidInput("Only a segment and the one after it can be joined.")
            after = review.join(first.draft, second.draft)
            saved = await self._write(conn, first, after)
            await conn.execute(segments.delete().where(segments.c.id == next_id))
            await self._audit(conn, actor, AuditAction.TRANSCRIPT_JOIN, segment_id,
                              {"before": _shown(first), "joined": next_id,
                               "joined_before": _shown(second), "after": _shown(after),
                               "published": published})
        log.info("transcript segments joined cafe=%s segment=%s joined=%s", actor.cafe_id,
                 segment_id, next_id)
        return Change([saved], [next_id])

    async def redact(self, actor: Actor, segment_id: int, version: int, start_char: int,
                     end_char: int, audio: tuple[float, float] | None = None) -> Change:
        actor.require(P.REVIEW_TRANSCRIPT)
        async with self.db.transaction() as conn:
            published = await self._guard(conn, actor)
            before = await self._current(conn, actor, segment_id, version)
            done = review.redact(before.draft, start_char, end_char, audio)
            saved = await self._write(conn, before, done.draft)
            await conn.execute(redactions.insert().values(
                cafe_id=actor.cafe_id, start_seconds=done.start, end_seconds=done.end,
                actor=actor.label[:120], applied=False, created_at=self.now()))
            await self._audit(conn, actor, AuditAction.TRANSCRIPT_REDACT, segment_id,
                              {"before": _shown(before), "after": _shown(done.draft),
                               "silenced": [round(done.start, 3), round(done.end, 3)],
                               "published": published})
        log.info("transcript span redacted cafe=%s segment=%s", actor.cafe_id, segment_id)
        await self.apply_redactions(actor.cafe_id)
        return Change([saved], [])

    async def redact_participant(self, actor: Actor, participant_id: int) -> Change:
        """Redact every segment a participant spoke (their recordings' segments), text and
        audio, in one step: what a parent's request to be left out of the published
        transcript asks. The request is marked as handled."""
        actor.require(P.REVIEW_TRANSCRIPT)
        saved: list[ReviewSegment] = []
        async with self.db.transaction() as conn:
            published = await self._guard(conn, actor)
            rows = (await conn.execute(
                sa.select(segments).join(recordings,
                                         recordings.c.id == segments.c.recording_id)
                .where(segments.c.cafe_id == actor.cafe_id,
                       recordings.c.participant_id == participant_id)
                .order_by(*_ORDER))).all()
            for row in rows:
                before = _segment(row)
                if before.end <= before.start or not before.text.strip():
                    continue
                try:
                    done = review.redact(before.draft, 0, len(before.text),
                                         (before.start, before.end))
                except InvalidInput:  # nothing left to take out (already "[retiré]")
                    continue
                saved.append(await self._write(conn, before, done.draft))
                await conn.execute(redactions.insert().values(
                    cafe_id=actor.cafe_id, start_seconds=done.start, end_seconds=done.end,
                    actor=actor.label[:120], applied=False, created_at=self.now()))
                await self._audit(conn, actor, AuditAction.TRANSCRIPT_REDACT, before.id,
                                  {"before": _shown(before), "after": _shown(done.draft),
                                   "silenced": [round(done.start, 3), round(done.end, 3)],
                                   "published": published, "leave_out": participant_id})
            await LeaveOutRepository().mark_redacted(conn, actor.cafe_id, participant_id,
                                                     self.now())
        log.info("participant's segments redacted cafe=%s participant=%s segments=%s",
                 actor.cafe_id, participant_id, len(saved))
        if saved:
            await self.apply_redactions(actor.cafe_id)
        return Change(saved, [])

    async def set_published(self, actor: Actor, published: bool,
                            confirmed: bool = False) -> bool:
        actor.require(P.PUBLISH_TRANSCRIPT)
        if published and not confirmed:  # parts that fell short: the organiser confirms
            warnings = await TranscriptRepository(self.db).coverage_warnings(actor.cafe_id)
            if warnings:
                raise PublishUnconfirmed()
        cafes = CafeRepository()
        async with self.db.transaction() as conn:
            cafe = await cafes.by_id(conn, actor.cafe_id, for_update=True)
            if cafe is None:
                raise NotFound("No such café.")
            await cafes.save_state(conn, cafe_rules.set_transcript_published(cafe, published))
            await self._audit(conn, actor, AuditAction.TRANSCRIPT_PUBLISH if published
                              else AuditAction.TRANSCRIPT_WITHDRAW, actor.cafe_id, {})
        log.info("transcript %s cafe=%s", "published" if published else "withdrawn",
                 actor.cafe_id)
        return published

    # the replay

    async def audio_pending(self, cafe_id: int) -> bool:
        """True while a redaction is not yet silenced in the replay file."""
        async with self.db.connect() as conn:
            return bool(await conn.scalar(sa.select(sa.func.count()).where(
                redactions.c.cafe_id == cafe_id, redactions.c.applied.is_(False))))

    async def apply_redactions(self, cafe_id: int) -> bool:
        """Rebuild the café's replay with every redacted stretch silenced (from its parts,
        else in the replay file itself); True when no redaction is left pending."""
        return await self.rebuild_replay(cafe_id, only_if_pending=True)

    async def rebuild_replay(self, cafe_id: int, *, only_if_pending: bool = False) -> bool:
        """Mix the café's replay again from the parts it still has, every redacted stretch
        silenced (in the replay file itself when no part is left); also after a part was
        taken out (a participant erased). False when it cannot be done."""
        async with self._rebuilding[cafe_id]:
            async with self.db.connect() as conn:
                pending = list(await conn.scalars(sa.select(redactions.c.id).where(
                    redactions.c.cafe_id == cafe_id, redactions.c.applied.is_(False))))
            if only_if_pending and not pending:
                return True
            if self.replay_dir is None:
                log.warning("redacted audio cannot be rebuilt (no replay folder) cafe=%s",
                            cafe_id)
                return False
            spans = await self.transcripts.redaction_spans(cafe_id)
            rows = await self.transcripts.recordings(cafe_id)
            parts = [(path, r.offset_seconds) for r in rows
                     if r.status not in ("recording", REPLAY_STATUS)
                     and (path := self._file(r.path)) is not None]
            replay = next((self._file(r.path) for r in rows if r.status == REPLAY_STATUS),
                          None)
            if parts:
                out = self.replay_dir / str(cafe_id) / "replay.ogg"
                out.parent.mkdir(parents=True, exist_ok=True)
                duration = await asyncio.to_thread(build_replay, parts, out, spans)
                await self.transcripts.save_replay(cafe_id, str(out), duration)
            elif replay is not None:
                await asyncio.to_thread(silence_replay, replay, spans)
            if pending:
                async with self.db.transaction() as conn:
                    await conn.execute(redactions.update().where(
                        redactions.c.id.in_(pending)).values(applied=True))
        log.info("replay rebuilt cafe=%s parts=%d silenced=%d", cafe_id, len(parts),
                 len(spans))
        return True

    def _file(self, stored: str) -> Path | None:
        path = Path(stored)
        if not path.is_absolute() and self.data_dir is not None:
            path = self.data_dir / path
        return path if path.is_file() else None

    # steps shared by the actions

    async def _guard(self, conn: AsyncConnection, actor: Actor) -> bool:
        """Lock the café; refuse while it is live (its transcript is still being made).
        Returns whether the transcript is published (the audit says so)."""
        status = await lock_cafe(conn, actor.cafe_id)
        if status is CafeStatus.LIVE:
            raise InvalidTransition("The transcript can be reviewed once the café has ended.")
        cafe = await CafeRepository().by_id(conn, actor.cafe_id)
        return bool(cafe and cafe.transcript_published)

    async def _get(self, conn: AsyncConnection, actor: Actor, segment_id: int
                   ) -> ReviewSegment:
        row = (await conn.execute(sa.select(segments).where(
            segments.c.id == segment_id, segments.c.cafe_id == actor.cafe_id))).first()
        if row is None:
            raise NotFound("No such segment.")
        return _segment(row)

    async def _current(self, conn: AsyncConnection, actor: Actor, segment_id: int,
                       version: int) -> ReviewSegment:
        current = await self._get(conn, actor, segment_id)
        if current.version != version:
            raise EditConflict([current])
        return current

    async def _write(self, conn: AsyncConnection, before: ReviewSegment,
                     after: review.Draft) -> ReviewSegment:
        result = await conn.execute(segments.update().where(
            segments.c.id == before.id, segments.c.version == before.version,
        ).values(version=segments.c.version + 1, **_stored(after)))
        if result.rowcount != 1:  # pragma: no cover - the café lock makes this unreachable
            raise EditConflict([])
        return ReviewSegment(before.id, before.version + 1, after.start, after.end,
                             after.speaker, after.text, after.words)

    async def _audit(self, conn: AsyncConnection, actor: Actor, action: AuditAction,
                     target: int, detail: dict[str, Any]) -> None:
        kind = "cafe" if action in (AuditAction.TRANSCRIPT_PUBLISH,
                                    AuditAction.TRANSCRIPT_WITHDRAW) else "segment"
        await self.audit.audit(conn, audit_entry(actor, action, f"{kind}:{target}", detail,
                                                 self.now()))


__all__ = ["Change", "EditConflict", "ReviewSegment", "ReviewService"]
