"""Joining against real SQLite and PostgreSQL (issue 8): concurrent first joins of one
browser (finding 8) and rejoining after an invitation was revoked or expired (finding 1)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from sessions.cafe import Cafe, CafeDraft, validate_draft
from sessions.clock import FixedClock
from sessions.errors import InvitationInvalid
from sessions.roles import Role
from sessions.service_cafes import CafeService
from sessions.storage.database import Database

SECRET = "x" * 40


@pytest.fixture
def service(db: Database, clock: FixedClock) -> CafeService:
    return CafeService(db, clock, SECRET, invitation_ttl=timedelta(hours=2))


async def live_cafe(service: CafeService, clock: FixedClock) -> Cafe:
    draft: CafeDraft = validate_draft(
        title="Écrans et sommeil", description="", theme="screens", language="fr",
        starts_at=clock.now() + timedelta(days=2), duration_minutes=60, now=clock.now(),
        is_new=True)
    cafe = await service.create_cafe(draft, None)
    expert = await service.join(cafe.slug, browser_key="e" * 32, pseudonym="Dr Martin",
                                invitation_token=(await service.invite(cafe.id, Role.EXPERT))
                                .token)
    await service.open_cafe(expert.actor)
    return await service.get(cafe.slug)


async def test_simultaneous_first_joins_of_one_browser_make_one_participant(
        service: CafeService, clock: FixedClock) -> None:
    cafe = await live_cafe(service, clock)
    for round_ in range(10):
        key = f"race{round_:02d}" + "k" * 20
        joined = await asyncio.gather(*(service.join(cafe.slug, browser_key=key,
                                                     pseudonym=f"Léa {n}") for n in range(4)))
        assert len({j.actor.participant_id for j in joined}) == 1
        assert sorted(j.rejoined for j in joined) == [False, True, True, True]


@pytest.mark.parametrize("role", [Role.MODERATOR, Role.EXPERT])
async def test_rejoining_after_revocation_gives_no_staff_role(
        service: CafeService, clock: FixedClock, role: Role) -> None:
    cafe = await live_cafe(service, clock)
    invitation = await service.invite(cafe.id, role)
    first = await service.join(cafe.slug, browser_key="m" * 32, pseudonym="Staff",
                               invitation_token=invitation.token)
    assert first.actor.role is role and first.invitation_expires_at == invitation.expires_at
    back = await service.join(cafe.slug, browser_key="m" * 32, pseudonym="Staff")
    assert back.actor.role is role  # still valid: the role comes back without the link

    effects = await service.revoke_invitation(cafe.id, invitation.id)
    stops = [c.participant_id for c in effects.commands]
    assert stops == ([first.actor.participant_id] if role is Role.EXPERT else [])
    again = await service.join(cafe.slug, browser_key="m" * 32, pseudonym="Staff")
    assert again.actor.role is Role.PARTICIPANT and again.invitation_id is None
    assert again.actor.participant_id == first.actor.participant_id
    with pytest.raises(InvitationInvalid):
        await service.join(cafe.slug, browser_key="m" * 32, pseudonym="Staff",
                           invitation_token=invitation.token)


async def test_rejoining_after_expiry_gives_no_staff_role(
        service: CafeService, clock: FixedClock) -> None:
    cafe = await live_cafe(service, clock)
    invitation = await service.invite(cafe.id, Role.MODERATOR)
    first = await service.join(cafe.slug, browser_key="m" * 32, pseudonym="Modo",
                               invitation_token=invitation.token)
    assert await service.invitation_lapsed(invitation.id) is None
    clock.advance(2 * 3600 + 1)
    again = await service.join(cafe.slug, browser_key="m" * 32, pseudonym="Modo")
    assert again.actor.role is Role.PARTICIPANT
    with pytest.raises(InvitationInvalid):  # the expired link itself
        await service.join(cafe.slug, browser_key="m" * 32, pseudonym="Modo",
                           invitation_token=invitation.token)
    assert await service.invitation_lapsed(invitation.id) == "expired"
    assert first.actor.participant_id == again.actor.participant_id
