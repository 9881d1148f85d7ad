"""Unit tests for portal.auth.policy: safe redirect targets and access rules, without a database."""

from __future__ import annotations

import pytest

from portal.auth.policy import PUBLIC, SIGNED_IN, AccessRule, roles, safe_next_path
from portal.models import RoleAssignment, User
from portal.models.users import Role, UserStatus

# --- safe_next_path ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "target",
    [
        "/",
        "/requests/abc?page=2",
        "/requests/abc#decision",
        "/%0d%0aSet-Cookie:x",  # percent-encoded: no raw control characters, stays a path
        "/https://evil.example",  # a path on this site that merely looks like a URL
    ],
)
def test_safe_next_path_accepts_local_paths(target: str) -> None:
    assert safe_next_path(target) == target


@pytest.mark.parametrize(
    "target",
    [
        None,
        "",
        "https://evil.example/",
        "//evil.example",
        "/\\evil.example",
        "\\evil",
        "\\\\evil.example",
        "http:/x",
        "javascript:alert(1)",
        "/requests\r\nSet-Cookie: x=1",
        "/\t/evil.example",  # browsers drop tabs, leaving //evil.example
        "/\n/evil.example",
        "/requests\x00",
        "/requests\\..\\admin",
        "requests",
        "requests/abc",
        " /requests",
    ],
)
def test_safe_next_path_refuses_anything_else(target: str | None) -> None:
    assert safe_next_path(target) is None


# --- AccessRule ----------------------------------------------------------------------------------


def person(*held: Role, status: UserStatus = UserStatus.ACTIVE) -> User:
    """A real User built in memory; no session or database is needed to read its roles."""
    return User(
        issuer="https://idp.example",
        subject="subject-1",
        display_name="Test Person",
        status=status,
        role_assignments=[RoleAssignment(role=role) for role in held],
    )


def test_the_in_memory_user_behaves_as_expected() -> None:
    user = person(Role.SOCIAL_WORKER)
    assert user.is_active
    assert user.has_role(Role.SOCIAL_WORKER)
    assert not user.has_role(Role.PARTNER_CONTRIBUTOR)
    assert not person(Role.SOCIAL_WORKER, status=UserStatus.PENDING).is_active


def test_public_allows_everyone() -> None:
    assert PUBLIC.allows(None)
    assert PUBLIC.allows(person())
    assert PUBLIC.allows(person(status=UserStatus.SUSPENDED))
    assert not PUBLIC.needs_sign_in


def test_signed_in_refuses_no_one_signed_in() -> None:
    assert SIGNED_IN.needs_sign_in
    assert not SIGNED_IN.allows(None)


@pytest.mark.parametrize("status", [UserStatus.PENDING, UserStatus.SUSPENDED])
def test_signed_in_refuses_an_inactive_user(status: UserStatus) -> None:
    assert not SIGNED_IN.allows(person(Role.PORTAL_ADMIN, status=status))


def test_signed_in_allows_an_active_user_with_or_without_roles() -> None:
    assert SIGNED_IN.allows(person())
    assert SIGNED_IN.allows(person(Role.PARTNER_CONTRIBUTOR))


def test_role_rule_allows_the_role_and_refuses_others() -> None:
    rule = roles(Role.SOCIAL_WORKER)
    assert rule.needs_sign_in
    assert rule.allows(person(Role.SOCIAL_WORKER))
    assert not rule.allows(person(Role.PARTNER_CONTRIBUTOR))
    assert not rule.allows(person())
    assert not rule.allows(None)


def test_role_rule_refuses_an_inactive_holder_of_the_role() -> None:
    rule = roles(Role.SOCIAL_WORKER)
    assert not rule.allows(person(Role.SOCIAL_WORKER, status=UserStatus.SUSPENDED))
    assert not rule.allows(person(Role.SOCIAL_WORKER, status=UserStatus.PENDING))


def test_role_rule_with_several_roles_allows_any_of_them() -> None:
    rule = roles(Role.TEAM_MANAGER, Role.SOCIAL_WORKER)
    assert rule.allows(person(Role.SOCIAL_WORKER))
    assert rule.allows(person(Role.TEAM_MANAGER))
    assert rule.allows(person(Role.PARTNER_LEAD, Role.TEAM_MANAGER))
    assert not rule.allows(person(Role.PARTNER_LEAD))
    assert rule.description == "signed in with a role in: social_worker, team_manager"


@pytest.mark.parametrize("role", list(Role))
def test_each_role_rule_allows_only_its_own_role(role: Role) -> None:
    rule = roles(role)
    for other in Role:
        assert rule.allows(person(other)) is (other is role)


def test_access_rule_is_immutable() -> None:
    rule = AccessRule("x", needs_sign_in=True)
    with pytest.raises(AttributeError):
        rule.needs_sign_in = False  # type: ignore[misc]
