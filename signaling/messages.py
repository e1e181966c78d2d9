"""One pydantic model per client -> server event (see `protocol.md`).

Every model forbids unknown fields, is strict (no "1" for 1), and bounds every string. The
bounds here are the widest the configuration allows; the services apply the configured
limits (`limits.question_max_length`...) with a translated message.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

__all__ = [
    "EVENT_MODELS",
    "CafeEnd",
    "CafeOpen",
    "ChatHide",
    "ChatRelease",
    "ChatSend",
    "Empty",
    "Join",
    "Leave",
    "MediaAnswer",
    "MediaPublish",
    "MediaSubscribe",
    "MediaUnpublish",
    "Message",
    "ModerationBan",
    "ModerationRemove",
    "QaAsk",
    "QaEdit",
    "QaMerge",
    "QaQuestion",
    "QaReject",
    "ReportCreate",
    "ReportResolve",
    "StageAccept",
    "StageDecline",
    "StageInvite",
    "StageLeaveOut",
    "StageMute",
    "StageTarget",
]

Id = Annotated[int, Field(ge=1, le=2**53)]
Slug = Annotated[str, StringConstraints(min_length=1, max_length=80, pattern=r"^[a-z0-9-]+$")]
BrowserKey = Annotated[str, StringConstraints(min_length=16, max_length=64,
                                              pattern=r"^[A-Za-z0-9-]+$")]
Sdp = Annotated[str, StringConstraints(min_length=1, max_length=200_000)]
LongText = Annotated[str, StringConstraints(max_length=5000)]


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Empty(Message):
    """An event without fields: `{}` or no payload."""


class Join(Message):
    cafe: Slug
    pseudonym: Annotated[str, StringConstraints(max_length=200)]
    browser_key: BrowserKey
    invite: Annotated[str, StringConstraints(max_length=300)] | None = None
    lang: Literal["fr", "en"] | None = None


class Leave(Empty):
    pass


class CafeOpen(Empty):
    pass


class CafeEnd(Empty):
    pass


class MediaPublish(Message):
    sdp: Sdp
    type: Literal["offer"] = "offer"


class MediaSubscribe(Empty):
    pass


class MediaAnswer(Message):
    sdp: Sdp
    type: Literal["answer"] = "answer"


class MediaUnpublish(Empty):
    pass


class QaAsk(Message):
    text: LongText
    anonymous: bool = False


class QaQuestion(Message):
    """withdraw, vote, unvote, approve, answering, answered, requeue."""

    question_id: Id


class QaReject(Message):
    question_id: Id
    reason: Annotated[str, StringConstraints(max_length=2000)] = ""


class QaEdit(Message):
    question_id: Id
    text: LongText


class QaMerge(Message):
    question_id: Id
    into: Id


class StageTarget(Message):
    """lower_hand and send_back: oneself when `participant_id` is left out."""

    participant_id: Id | None = None


class StageInvite(Message):
    participant_id: Id


class StageAccept(Message):
    """The invited parent accepts; `leave_out`: leave my stage time out of the published
    transcript."""

    leave_out: bool = False


class StageDecline(Empty):
    pass


class StageLeaveOut(Empty):
    pass


class StageMute(Message):
    participant_id: Id
    muted: bool = True


class ChatSend(Message):
    text: LongText


class ChatHide(Message):
    message_id: Id


class ChatRelease(Message):
    message_id: Id


class ModerationRemove(Message):
    participant_id: Id


class ModerationBan(Message):
    participant_id: Id
    # also bar their Internet address for a short while (`moderation.ADDRESS_BAN_MINUTES`)
    by_address: bool = False


class ReportCreate(Message):
    """A parent's private report; `reason` is one of the list (checked by the service,
    which names the list in its refusal), `note` bounded there too."""

    kind: Literal["question", "chat", "participant"]
    target_id: Id
    reason: Annotated[str, StringConstraints(max_length=40)]
    note: Annotated[str, StringConstraints(max_length=2000)] = ""


class ReportResolve(Message):
    report_id: Id
    resolution: Literal["none", "hide", "remove", "ban"]


EVENT_MODELS: dict[str, type[Message]] = {
    "join": Join,
    "leave": Leave,
    "cafe.open": CafeOpen,
    "cafe.end": CafeEnd,
    "media.publish": MediaPublish,
    "media.subscribe": MediaSubscribe,
    "media.answer": MediaAnswer,
    "media.unpublish": MediaUnpublish,
    "qa.ask": QaAsk,
    "qa.withdraw": QaQuestion,
    "qa.vote": QaQuestion,
    "qa.unvote": QaQuestion,
    "qa.approve": QaQuestion,
    "qa.reject": QaReject,
    "qa.edit": QaEdit,
    "qa.merge": QaMerge,
    "qa.answering": QaQuestion,
    "qa.answered": QaQuestion,
    "qa.requeue": QaQuestion,
    "stage.raise_hand": Empty,
    "stage.lower_hand": StageTarget,
    "stage.invite": StageInvite,
    "stage.accept": StageAccept,
    "stage.decline": StageDecline,
    "stage.leave_out": StageLeaveOut,
    "stage.send_back": StageTarget,
    "stage.mute": StageMute,
    "chat.send": ChatSend,
    "chat.hide": ChatHide,
    "chat.release": ChatRelease,
    "moderation.remove": ModerationRemove,
    "moderation.ban": ModerationBan,
    "report.create": ReportCreate,
    "report.resolve": ReportResolve,
}
