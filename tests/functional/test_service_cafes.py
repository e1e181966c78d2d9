"""The café service against real SQLite and PostgreSQL: creation, lifecycle, invitations,
joining."""

from __future__ import annotations

from datetime import timedelta

import pytest

from sessions.cafe import CafeDraft, CafeStatus, validate_draft
from sessions.clock import FixedClock
from sessions.errors import (
    Banned,
    InvalidInput,
    InvalidTransition,
    InvitationInvalid,
    NotFound,
    PermissionDenied,
)
from sessions.roles import Role
from sessions.service_cafes import CafeService
from sessions.storage.database import Database
from sessions.storage.tables import bans

SECRET = "x" * 40


def draft(clock: FixedClock, title: str = "Écrans et sommeil") -> CafeDraft:
    return validate_draft(
        title=title, description="", theme="screens", language="fr",
        starts_at=clock.now() + timedelta(days=2), duration_minutes=60,
        now=clock.now(), is_new=True)


@pytest.fixture
def service(db: Database, clock: FixedClock) -> CafeService:
    return CafeService(db, clock, SECRET, invitation_ttl=timedelta(hours=2))


async def test_create_gives_unique_readable_slugs(service: CafeService, clock: FixedClock) -> None:
    first = await service.create_cafe(draft(clock), None)
    second = await service.create_cafe(draft(clock), None)
    assert first.slug == "ecrans-et-sommeil-2026-11-27"
    assert second.slug == "ecrans-et-sommeil-2026-11-27-2"
    assert (await service.get(first.slug)).title == "Écrans et sommeil"
    assert first.status is CafeStatus.SCHEDULED


async def test_lifecycle_persists_and_refuses_wrong_steps(
    service: CafeService, clock: FixedClock
) -> None:
    cafe = await service.create_cafe(draft(clock), None)
    expert = (await service.join(cafe.slug, browser_key="e" * 32, pseudonym="Dr Martin",
                                 invitation_token=(await service.invite(cafe.id, Role.EXPERT))
                                 .token)).actor
    with pytest.raises(InvalidTransition):
        await service.end_cafe(expert)
    opened, events = await service.open_cafe(expert)
    assert opened.status is CafeStatus.LIVE
    assert events[0].event == "cafe.status" and events[0].payload["status"] == "live"
    with pytest.raises(InvalidTransition):
        await service.open_cafe(expert)
    clock.advance(3600)
    ended, _ = await service.end_cafe(expert)
    assert ended.status is CafeStatus.ENDED
    stored = await service.get(cafe.slug)
    assert stored.status is CafeStatus.ENDED
    assert stored.ended_at == clock.now()


async def test_parent_cannot_open_or_join_before_live(
    service: CafeService, clock: FixedClock
) -> None:
    cafe = await service.create_cafe(draft(clock), None)
    with pytest.raises(PermissionDenied, match="not started"):
        await service.join(cafe.slug, browser_key="p" * 32, pseudonym="Léa")


async def test_invitation_scoped_expiring_revocable(
    service: CafeService, clock: FixedClock
) -> None:
    cafe = await service.create_cafe(draft(clock), None)
    other = await service.create_cafe(draft(clock, "Jeux vidéo"), None)
    invitation = await service.invite(cafe.id, Role.MODERATOR)
    invitation_id, role = await service.check_invitation(cafe.id, invitation.token)
    assert (invitation_id, role) == (invitation.id, Role.MODERATOR)
    with pytest.raises(InvitationInvalid):  # another café
        await service.check_invitation(other.id, invitation.token)
    with pytest.raises(InvitationInvalid):  # forged
        await service.check_invitation(cafe.id, invitation.token[:-2] + "xx")
    with pytest.raises(InvitationInvalid):
        await service.check_invitation(cafe.id, "a" * 1000)
    await service.revoke_invitation(cafe.id, invitation.id)
    with pytest.raises(InvitationInvalid):  # revoked
        await service.check_invitation(cafe.id, invitation.token)
    fresh = await service.invite(cafe.id, Role.EXPERT)
    clock.advance(3 * 3600)
    with pytest.raises(InvitationInvalid):  # expired
        await service.check_invitation(cafe.id, fresh.token)
    with pytest.raises(InvalidInput):
        await service.invite(cafe.id, Role.ORGANISER)
    with pytest.raises(NotFound):
        await service.revoke_invitation(other.id, fresh.id)


async def test_same_browser_rejoins_as_same_participant(
    service: CafeService, clock: FixedClock
) -> None:
    cafe = await service.create_cafe(draft(clock), None)
    token = (await service.invite(cafe.id, Role.EXPERT)).token
    expert = (await service.join(cafe.slug, browser_key="e" * 32, pseudonym="Dr Martin",
                                 invitation_token=token)).actor
    await service.open_cafe(expert)
    first = await service.join(cafe.slug, browser_key="b" * 32, pseudonym="Léa")
    again = await service.join(cafe.slug, browser_key="b" * 32, pseudonym="Léa M.")
    assert first.actor.participant_id == again.actor.participant_id
    assert again.rejoined and again.actor.pseudonym == "Léa M."
    assert first.actor.role is Role.PARTICIPANT
    # The expert's browser keeps its role when it comes back without the link.
    back = await service.join(cafe.slug, browser_key="e" * 32, pseudonym="Dr Martin")
    assert back.actor.role is Role.EXPERT


@pytest.mark.parametrize("key", ["short", "x" * 65, "é" * 20, "a b c d e f g h i j k"])
async def test_bad_browser_key_refused(service: CafeService, clock: FixedClock, key: str) -> None:
    cafe = await service.create_cafe(draft(clock), None)
    with pytest.raises(InvalidInput):
        await service.join(cafe.slug, browser_key=key, pseudonym="Léa")


async def test_banned_browser_and_invitation_cannot_rejoin(
    service: CafeService, clock: FixedClock, db: Database
) -> None:
    cafe = await service.create_cafe(draft(clock), None)
    invitation = await service.invite(cafe.id, Role.MODERATOR)
    async with db.transaction() as conn:
        await conn.execute(bans.insert().values(cafe_id=cafe.id, browser_key="z" * 32,
                                                created_at=clock.now()))
        await conn.execute(bans.insert().values(cafe_id=cafe.id, invitation_id=invitation.id,
                                                created_at=clock.now()))
    with pytest.raises(Banned):
        await service.join(cafe.slug, browser_key="z" * 32, pseudonym="Troll",
                           invitation_token=(await service.invite(cafe.id, Role.EXPERT)).token)
    with pytest.raises(Banned):
        await service.join(cafe.slug, browser_key="y" * 32, pseudonym="Mod",
                           invitation_token=invitation.token)


async def test_transcript_publishing_only_after_end(
    service: CafeService, clock: FixedClock
) -> None:
    cafe = await service.create_cafe(draft(clock), None)
    expert = (await service.join(cafe.slug, browser_key="e" * 32, pseudonym="Dr Martin",
                                 invitation_token=(await service.invite(cafe.id, Role.EXPERT))
                                 .token)).actor
    await service.open_cafe(expert)
    with pytest.raises(InvalidTransition):
        await service.set_transcript_published(cafe.slug, True)
    await service.end_cafe(expert)
    assert (await service.set_transcript_published(cafe.slug, True)).transcript_published
    assert not (await service.set_transcript_published(cafe.slug, False)).transcript_published
    with pytest.raises(NotFound):
        await service.get("no-such-cafe")
