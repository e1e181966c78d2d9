"""Q&A, stage, chat and moderation events: parse -> the service -> emit its events."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from sessions.actors import Actor
from sessions.events import Effects, Outbound
from sessions.services import Services
from signaling import messages as m
from signaling import standing
from signaling.events import Ack, EventSpec
from signaling.hub import Connection, Hub

Call = Callable[[Services, Actor, Any], Awaitable[list[Outbound] | Effects]]


def _event(model: type[m.Message], call: Call) -> EventSpec:
    async def handler(hub: Hub, conn: Connection, msg: Any) -> Ack:
        assert conn.actor is not None
        await hub.carry_out(await call(hub.services(), conn.actor, msg))
        return {}

    return EventSpec(model, handler)


async def _remove(hub: Hub, conn: Connection, msg: m.ModerationRemove | m.ModerationBan,
                  *, banned: bool) -> Ack:
    """Tell the participant and the staff; the service's `DisconnectParticipant` command
    disconnects them on whichever process holds their sockets (`Hub.on_command`)."""
    actor = conn.actor
    assert actor is not None
    moderation = hub.services().moderation
    if isinstance(msg, m.ModerationBan):
        effects = await moderation.ban(actor, msg.participant_id, by_address=msg.by_address)
        # A banned member of the staff loses their invitation: every other socket that
        # joined with it loses the role too, on every process.
        invitation_id = await moderation.revoked_invitation_of(actor.cafe_id,
                                                               msg.participant_id)
        if invitation_id is not None:
            await standing.revoke(hub, invitation_id, effects)
            return {}
    else:
        effects = await moderation.remove(actor, msg.participant_id)
    await hub.carry_out(effects)
    return {}


async def _remove_handler(hub: Hub, conn: Connection, msg: m.ModerationRemove) -> Ack:
    return await _remove(hub, conn, msg, banned=False)


async def _ban_handler(hub: Hub, conn: Connection, msg: m.ModerationBan) -> Ack:
    return await _remove(hub, conn, msg, banned=True)


EVENTS: dict[str, EventSpec] = {
    "qa.ask": _event(m.QaAsk, lambda s, a, msg: s.qa.ask(a, msg.text, msg.anonymous)),
    "qa.withdraw": _event(m.QaQuestion, lambda s, a, msg: s.qa.withdraw(a, msg.question_id)),
    "qa.vote": _event(m.QaQuestion, lambda s, a, msg: s.qa.vote(a, msg.question_id)),
    "qa.unvote": _event(m.QaQuestion, lambda s, a, msg: s.qa.unvote(a, msg.question_id)),
    "qa.approve": _event(m.QaQuestion, lambda s, a, msg: s.qa.approve(a, msg.question_id)),
    "qa.reject": _event(m.QaReject,
                        lambda s, a, msg: s.qa.reject(a, msg.question_id, msg.reason)),
    "qa.edit": _event(m.QaEdit, lambda s, a, msg: s.qa.edit(a, msg.question_id, msg.text)),
    "qa.merge": _event(m.QaMerge, lambda s, a, msg: s.qa.merge(a, msg.question_id, msg.into)),
    "qa.answering": _event(m.QaQuestion,
                           lambda s, a, msg: s.qa.start_answering(a, msg.question_id)),
    "qa.answered": _event(m.QaQuestion,
                          lambda s, a, msg: s.qa.mark_answered(a, msg.question_id)),
    "qa.requeue": _event(m.QaQuestion, lambda s, a, msg: s.qa.requeue(a, msg.question_id)),
    "stage.raise_hand": _event(m.Empty, lambda s, a, _msg: s.stage.raise_hand(a)),
    "stage.lower_hand": _event(m.StageTarget,
                               lambda s, a, msg: s.stage.lower_hand(a, msg.participant_id)),
    "stage.invite": _event(m.StageInvite,
                           lambda s, a, msg: s.stage.bring_on_stage(a, msg.participant_id)),
    "stage.accept": _event(m.StageAccept,
                           lambda s, a, msg: s.stage.accept(a, msg.leave_out)),
    "stage.decline": _event(m.StageDecline, lambda s, a, _msg: s.stage.decline(a)),
    "stage.leave_out": _event(m.StageLeaveOut, lambda s, a, _msg: s.stage.leave_out(a)),
    "stage.send_back": _event(m.StageTarget,
                              lambda s, a, msg: s.stage.send_back(a, msg.participant_id)),
    "stage.mute": _event(m.StageMute,
                         lambda s, a, msg: s.stage.mute(a, msg.participant_id, msg.muted)),
    "chat.send": _event(m.ChatSend, lambda s, a, msg: s.moderation.send_chat(a, msg.text)),
    "chat.hide": _event(m.ChatHide, lambda s, a, msg: s.moderation.hide_chat(a, msg.message_id)),
    "chat.release": _event(m.ChatRelease,
                           lambda s, a, msg: s.moderation.release_chat(a, msg.message_id)),
    "moderation.remove": EventSpec(m.ModerationRemove, _remove_handler),
    "moderation.ban": EventSpec(m.ModerationBan, _ban_handler),
}
