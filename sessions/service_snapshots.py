"""What a socket that joins a café is shown: its place on the stage, the Q&A queue, the
stage and the latest chat, each as its role may see it.

Read after the socket entered the café's rooms (an event sent meanwhile reaches it, none is
missed between the snapshot and the first event). Sockets joining the same café at once
share one read (`Batcher`): the queue, the stage and the chat are loaded once per café for
every socket waiting, then cut per viewer by the pure `snapshot_for` functions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sessions import moderation as chat_rules
from sessions import qa
from sessions import stage as stage_rules
from sessions.actors import Actor
from sessions.batching import Batcher
from sessions.moderation import ChatMessage
from sessions.roles import Permission, allows
from sessions.storage.database import Database
from sessions.storage.repo_moderation import ModerationRepository, StageRepository
from sessions.storage.repo_qa import QuestionRepository


@dataclass(frozen=True, slots=True)
class RoomSnapshot:
    on_stage: bool
    qa: dict[str, Any]
    stage: dict[str, Any]
    chat: dict[str, Any]


class SnapshotService:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.questions = QuestionRepository()
        self.stage = StageRepository()
        self.chat = ModerationRepository()
        self._reads: Batcher[Actor, RoomSnapshot] = Batcher(self._read, name="snapshots")

    async def for_actor(self, actor: Actor) -> RoomSnapshot:
        return await self._reads.submit(actor)

    async def _read(self, actors: Sequence[Actor]) -> list[RoomSnapshot | Exception]:
        views: list[RoomSnapshot | Exception] = []
        async with self.db.connect() as conn:
            loaded: dict[int, tuple[qa.Queue, stage_rules.Stage]] = {}
            # the latest messages, per café and per "sees hidden ones"
            chats: dict[tuple[int, bool], list[ChatMessage]] = {}
            for actor in actors:
                cafe_id = actor.cafe_id
                if cafe_id not in loaded:
                    loaded[cafe_id] = (await self.questions.load(conn, cafe_id),
                                       await self.stage.load(conn, cafe_id))
                hidden = allows(actor.role, Permission.HIDE_CHAT)
                if (cafe_id, hidden) not in chats:
                    chats[cafe_id, hidden] = await self.chat.recent_messages(
                        conn, cafe_id, limit=chat_rules.CHAT_SNAPSHOT_SIZE,
                        include_hidden=hidden)
                queue, stage = loaded[cafe_id]
                pid = actor.participant_id
                views.append(RoomSnapshot(
                    on_stage=stage.is_on_stage(pid),
                    qa=qa.snapshot_for(queue, actor.role, pid),
                    stage=stage_rules.snapshot_for(stage, actor.role, pid),
                    chat=chat_rules.chat_snapshot_for(chats[cafe_id, hidden], actor.role)))
        return views
