"""Roles and the permission table, as data.

The browser hides what a role cannot do; the server decides, always from this table.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping

from sessions.errors import PermissionDenied


class Role(enum.StrEnum):
    ORGANISER = "organiser"
    EXPERT = "expert"
    MODERATOR = "moderator"
    PARTICIPANT = "participant"
    VIEWER = "viewer"
    RECORDER = "recorder"


class Permission(enum.StrEnum):
    # café lifecycle and administration
    MANAGE_CAFES = "manage_cafes"
    INVITE = "invite"
    PUBLISH_TRANSCRIPT = "publish_transcript"
    REVIEW_TRANSCRIPT = "review_transcript"  # read before publishing, correct, redact
    VIEW_AUDIT_LOG = "view_audit_log"
    OPEN_CAFE = "open_cafe"
    END_CAFE = "end_cafe"
    JOIN_BEFORE_LIVE = "join_before_live"
    # presence and media
    JOIN_LIVE = "join_live"
    PUBLISH_CAMERA = "publish_camera"
    PUBLISH_MICROPHONE = "publish_microphone"
    SUBSCRIBE_MEDIA = "subscribe_media"
    RECORD = "record"
    # questions
    ASK_QUESTION = "ask_question"
    VOTE = "vote"
    MODERATE_QUESTIONS = "moderate_questions"
    SEE_PENDING_QUESTIONS = "see_pending_questions"
    SEE_ANONYMOUS_AUTHORS = "see_anonymous_authors"
    ANSWER_QUESTIONS = "answer_questions"
    # stage
    RAISE_HAND = "raise_hand"
    MANAGE_STAGE = "manage_stage"
    # moderation and chat
    CHAT = "chat"
    HIDE_CHAT = "hide_chat"
    MUTE = "mute"
    REMOVE = "remove"
    BAN = "ban"
    # safeguarding: a parent's private report, and the queue that only staff handle
    REPORT = "report"
    HANDLE_REPORTS = "handle_reports"
    # public pages
    VIEW_PUBLISHED_TRANSCRIPTS = "view_published_transcripts"


P = Permission

PERMISSIONS: Mapping[Role, frozenset[Permission]] = {
    Role.ORGANISER: frozenset(Permission),
    Role.EXPERT: frozenset(
        {
            P.OPEN_CAFE, P.END_CAFE, P.JOIN_BEFORE_LIVE, P.JOIN_LIVE,
            P.PUBLISH_CAMERA, P.PUBLISH_MICROPHONE, P.SUBSCRIBE_MEDIA,
            P.ANSWER_QUESTIONS, P.MANAGE_STAGE, P.CHAT, P.VOTE,
            P.VIEW_PUBLISHED_TRANSCRIPTS, P.REVIEW_TRANSCRIPT, P.REPORT,
        }
    ),
    Role.MODERATOR: frozenset(
        {
            P.OPEN_CAFE, P.END_CAFE, P.JOIN_BEFORE_LIVE, P.JOIN_LIVE, P.SUBSCRIBE_MEDIA,
            P.MODERATE_QUESTIONS, P.SEE_PENDING_QUESTIONS, P.SEE_ANONYMOUS_AUTHORS,
            P.MANAGE_STAGE, P.CHAT, P.HIDE_CHAT, P.MUTE, P.REMOVE, P.BAN,
            P.VIEW_PUBLISHED_TRANSCRIPTS, P.REPORT, P.HANDLE_REPORTS,
        }
    ),
    Role.PARTICIPANT: frozenset(
        {
            P.JOIN_LIVE, P.SUBSCRIBE_MEDIA, P.ASK_QUESTION, P.VOTE, P.RAISE_HAND, P.CHAT,
            P.VIEW_PUBLISHED_TRANSCRIPTS, P.REPORT,
        }
    ),
    Role.VIEWER: frozenset({P.VIEW_PUBLISHED_TRANSCRIPTS}),
    Role.RECORDER: frozenset({P.JOIN_BEFORE_LIVE, P.JOIN_LIVE, P.RECORD}),
}

# A participant brought on stage gains these, and loses them when sent back.
STAGE_PERMISSIONS: frozenset[Permission] = frozenset({P.PUBLISH_MICROPHONE})


def allows(role: Role, permission: Permission, *, on_stage: bool = False) -> bool:
    if permission in PERMISSIONS[role]:
        return True
    return on_stage and role is Role.PARTICIPANT and permission in STAGE_PERMISSIONS


def require(role: Role, permission: Permission, *, on_stage: bool = False) -> None:
    if not allows(role, permission, on_stage=on_stage):
        raise PermissionDenied()


# -- accounts: who logs in on the admin pages, and how far their powers reach ---------------


class AccountPermission(enum.StrEnum):
    # the platform administrator's: create associations and their first organiser
    MANAGE_ASSOCIATIONS = "manage_associations"
    # an organiser's, within their own association only: act as `Role.ORGANISER` in its
    # cafés (their pages, invitations, transcripts, reports, logs), edit its profile and
    # logo, invite and remove fellow organisers, read its figures
    ADMINISTER_ASSOCIATION = "administer_association"


# Powers that reach only the account's own association: never another's cafés, however
# high the account's other powers (a platform administrator runs no café of its own).
ASSOCIATION_SCOPED: frozenset[AccountPermission] = frozenset(
    {AccountPermission.ADMINISTER_ASSOCIATION})


def account_permissions(*, platform_admin: bool,
                        association_id: int | None) -> frozenset[AccountPermission]:
    granted: set[AccountPermission] = set()
    if platform_admin:
        granted.add(AccountPermission.MANAGE_ASSOCIATIONS)
    if association_id is not None:
        granted.add(AccountPermission.ADMINISTER_ASSOCIATION)
    return frozenset(granted)


def account_allows(permission: AccountPermission, *, platform_admin: bool,
                   association_id: int | None, target_association: int | None = None) -> bool:
    """May this account use `permission` (on `target_association`, for a scoped one)?"""
    if permission not in account_permissions(platform_admin=platform_admin,
                                             association_id=association_id):
        return False
    if permission in ASSOCIATION_SCOPED:
        return target_association is not None and target_association == association_id
    return True


def cafe_role_of_account(*, association_id: int | None, cafe_association: int) -> Role | None:
    """The role a logged-in account holds in a café: organiser of its own association's
    cafés; none in another's (there, the browser is whoever its link or nothing makes it)."""
    if account_allows(AccountPermission.ADMINISTER_ASSOCIATION, platform_admin=False,
                      association_id=association_id, target_association=cafe_association):
        return Role.ORGANISER
    return None
