"""The association form's rules (pure) and the account side of the permission table."""

from __future__ import annotations

import pytest

from sessions.actors import Account
from sessions.associations import (
    help_settings,
    slug_from_name,
    validate_association,
    validate_slug,
)
from sessions.errors import InvalidInput, PermissionDenied
from sessions.roles import AccountPermission, Role


@pytest.mark.parametrize("slug", ["x", "Avec Espace", "a" * 61, "tiret-", "-tiret", "a--b",
                                  "<b>", "é-accent", ""])
def test_bad_slugs_refused(slug: str) -> None:
    with pytest.raises(InvalidInput):
        validate_slug(slug)


def test_slugs() -> None:
    assert validate_slug("e-enfance") == "e-enfance"
    assert validate_slug("a" * 60) == "a" * 60
    assert slug_from_name("Réseau des Pères !") == "reseau-des-peres"
    assert slug_from_name("!!!") == "association"
    assert len(slug_from_name("mot " * 40)) <= 60


@pytest.mark.parametrize(("field", "value"), [
    ("name", ""), ("name", "n" * 121), ("website", "javascript:alert(1)"),
    ("website", "https://a b"), ("colour", "red"), ("colour", "#12345"),
    ("colour", "#1234567"), ("help_numbers", "\n".join(str(n) for n in range(7))),
    ("help_numbers", "1" * 601), ("description", "d" * 1001),
])
def test_bad_fields_refused(field: str, value: str) -> None:
    fields = {"name": "Une association", field: value}
    with pytest.raises(InvalidInput):
        validate_association(**fields)


def test_clean_fields() -> None:
    draft = validate_association(name=" e-Enfance ", website="https://e-enfance.org",
                                 colour="#AA3355", help_numbers="3018 Harcèlement\n\n119 Enfance")
    assert (draft.name, draft.colour) == ("e-Enfance", "#aa3355")
    assert draft.help_numbers == "3018 Harcèlement\n119 Enfance"
    assert validate_association(name="x").colour == "#2f6f5e"


def test_help_numbers_are_the_banner_lines() -> None:
    lines = help_settings("3018 Harcèlement en ligne\n+33 1 23 45 67 89 : Écoute parents")
    assert lines is not None
    assert [(h.number, h.description_fr, h.tel) for h in lines.lines] == [
        ("3018", "Harcèlement en ligne", "tel:3018"),
        ("+33 1 23 45 67 89", "Écoute parents", "tel:+33123456789")]
    assert help_settings("") is None
    for bad in ("pas de numéro", "3018", "3018 a\n119 b\n1 c\n2 d\n3 e"):
        with pytest.raises(InvalidInput):
            validate_association(name="x", help_numbers=bad)


def test_account_scope() -> None:
    a = Account(1, "a@x", "A", association_id=1)
    admin = Account(2, "r@x", "R", platform_admin=True)
    assert a.role_in(1) is Role.ORGANISER and a.role_in(2) is None
    assert admin.role_in(1) is None  # the platform administrator runs no café
    assert a.can(AccountPermission.ADMINISTER_ASSOCIATION, 1)
    assert not a.can(AccountPermission.ADMINISTER_ASSOCIATION, 2)
    assert not a.can(AccountPermission.MANAGE_ASSOCIATIONS)
    assert admin.can(AccountPermission.MANAGE_ASSOCIATIONS)
    assert not admin.can(AccountPermission.ADMINISTER_ASSOCIATION, None)
    with pytest.raises(PermissionDenied):
        a.require(AccountPermission.ADMINISTER_ASSOCIATION, 2)
