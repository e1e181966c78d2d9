"""The permission table, one test per role: each role gets exactly what is listed here.

Written out in full on purpose: a permission added to a role must be added here too, so a
change of who-may-do-what is always a visible, reviewed change.
"""

from __future__ import annotations

import pytest

from sessions.actors import Actor
from sessions.errors import PermissionDenied
from sessions.roles import PERMISSIONS, Permission, Role, allows, require

P = Permission


def granted(role: Role, *, on_stage: bool = False) -> set[Permission]:
    return {p for p in Permission if allows(role, p, on_stage=on_stage)}


def test_every_role_is_in_the_table() -> None:
    assert set(PERMISSIONS) == set(Role)


def test_organiser_may_do_everything() -> None:
    assert granted(Role.ORGANISER) == set(Permission)


def test_expert() -> None:
    assert granted(Role.EXPERT) == {
        P.OPEN_CAFE, P.END_CAFE, P.JOIN_BEFORE_LIVE, P.JOIN_LIVE, P.PUBLISH_CAMERA,
        P.PUBLISH_MICROPHONE, P.SUBSCRIBE_MEDIA, P.ANSWER_QUESTIONS, P.MANAGE_STAGE, P.CHAT,
        P.VOTE, P.VIEW_PUBLISHED_TRANSCRIPTS, P.REVIEW_TRANSCRIPT, P.REPORT,
    }
    # The expert reviews the transcript of their café; the organiser publishes it.
    assert not allows(Role.EXPERT, P.PUBLISH_TRANSCRIPT)
    # The expert sees the approved queue only: no pending questions, no anonymous authors.
    assert not allows(Role.EXPERT, P.SEE_PENDING_QUESTIONS)
    assert not allows(Role.EXPERT, P.SEE_ANONYMOUS_AUTHORS)


def test_moderator() -> None:
    assert granted(Role.MODERATOR) == {
        P.OPEN_CAFE, P.END_CAFE, P.JOIN_BEFORE_LIVE, P.JOIN_LIVE, P.SUBSCRIBE_MEDIA,
        P.MODERATE_QUESTIONS, P.SEE_PENDING_QUESTIONS, P.SEE_ANONYMOUS_AUTHORS,
        P.MANAGE_STAGE, P.CHAT, P.HIDE_CHAT, P.MUTE, P.REMOVE, P.BAN,
        P.VIEW_PUBLISHED_TRANSCRIPTS, P.REPORT, P.HANDLE_REPORTS,
    }
    assert not allows(Role.MODERATOR, P.VIEW_AUDIT_LOG)  # the organiser reviews moderators


def test_participant() -> None:
    assert granted(Role.PARTICIPANT) == {
        P.JOIN_LIVE, P.SUBSCRIBE_MEDIA, P.ASK_QUESTION, P.VOTE, P.RAISE_HAND, P.CHAT,
        P.VIEW_PUBLISHED_TRANSCRIPTS, P.REPORT,
    }


def test_participant_on_stage_gains_the_microphone_only() -> None:
    assert granted(Role.PARTICIPANT, on_stage=True) - granted(Role.PARTICIPANT) == {
        P.PUBLISH_MICROPHONE}


def test_viewer() -> None:
    assert granted(Role.VIEWER) == {P.VIEW_PUBLISHED_TRANSCRIPTS}
    assert granted(Role.VIEWER, on_stage=True) == {P.VIEW_PUBLISHED_TRANSCRIPTS}


def test_recorder() -> None:
    assert granted(Role.RECORDER) == {P.JOIN_BEFORE_LIVE, P.JOIN_LIVE, P.RECORD}


@pytest.mark.parametrize("role", [r for r in Role if r is not Role.ORGANISER])
def test_require_refuses_with_permission_denied(role: Role) -> None:
    missing = set(Permission) - granted(role)
    assert missing
    for permission in missing:
        with pytest.raises(PermissionDenied):
            require(role, permission)
        with pytest.raises(PermissionDenied):
            Actor(1, 1, role, "x").require(permission)
