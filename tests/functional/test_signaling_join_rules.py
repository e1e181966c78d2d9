"""Who may join, and under which name (finding 12 of issue 8, socket parts): the permission
table's join permissions decide, and a pseudonym others would see broken is refused with a
French message."""

from __future__ import annotations

from typing import cast

import pytest
from signaling_fixtures import Live, invite, make_cafe

from sessions.roles import PERMISSIONS, Permission, Role


@pytest.mark.parametrize(("pseudonym", "message"), [
    ("\u0301\u0301\u0301", "Un pseudonyme doit contenir au moins une lettre, un chiffre ou un "
                           "signe visible."),
    ("Marie\u2028Admin", "Un pseudonyme ne peut pas contenir de saut de ligne ni de caractère "
                         "de contrôle ou invisible."),
    ("Marie\u2029", "Un pseudonyme ne peut pas contenir de saut de ligne ni de caractère "
                    "de contrôle ou invisible."),
    ("\u202eeiraM", "Un pseudonyme ne peut pas contenir de saut de ligne ni de caractère "
                    "de contrôle ou invisible."),
])
async def test_a_broken_pseudonym_is_refused_in_french(live: Live, pseudonym: str,
                                                       message: str) -> None:
    cafe = await make_cafe(live.cafes, live=True)
    peer = await live.peer()
    ack = await peer.join(cafe, pseudonym)
    assert ack["ok"] is False
    assert ack["error"] == {"code": "invalid_input", "message": message}
    assert (await peer.join(cafe, "Marie"))["ok"] is True  # nothing was stored


@pytest.mark.parametrize(("live_cafe", "permission"), [
    (True, Permission.JOIN_LIVE), (False, Permission.JOIN_BEFORE_LIVE)])
async def test_joining_follows_the_permission_table(
        live: Live, monkeypatch: pytest.MonkeyPatch, live_cafe: bool,
        permission: Permission) -> None:
    """Take the join permission away from a role in the table: that role is refused."""
    cafe = await make_cafe(live.cafes, live=live_cafe)
    token = await invite(live.cafes, cafe, Role.MODERATOR)
    monkeypatch.setitem(cast(dict[Role, frozenset[Permission]], PERMISSIONS), Role.MODERATOR,
                        PERMISSIONS[Role.MODERATOR] - {permission})
    peer = await live.peer()
    ack = await peer.join(cafe, "Modo", invite=token)
    assert ack["ok"] is False and ack["error"]["code"] == "forbidden", ack
    monkeypatch.undo()
    assert (await peer.join(cafe, "Modo", invite=token))["participant"]["role"] == "moderator"
