"""Who may manage whom, and which roles they may give: pure functions, testable alone.

A partner lead manages the people of their own organisation and gives partner roles only.
A portal administrator manages everyone; council roles are theirs alone to give, and only to
people in a council organisation. At a partner organisation an administrator can only narrow:
take roles away and suspend. Approving its people, reinstating them and giving them roles is
for its partner lead; making someone partner lead is a change a second person approves
(portal.onboarding.changes). Nobody suspends themselves, gives themselves a role, or takes
away their own lead or administrator role (they would lock out the people who manage them).
"""

from __future__ import annotations

from portal.models import OrganisationKind, Role, User

PARTNER_ROLES = frozenset({Role.PARTNER_CONTRIBUTOR, Role.PARTNER_LEAD})
COUNCIL_ROLES = frozenset(Role) - PARTNER_ROLES
MANAGING_ROLES = frozenset({Role.PARTNER_LEAD, Role.PORTAL_ADMIN})


class Refused(Exception):
    """The change is not allowed; the message says why, as a GOV.UK error message."""


def may_manage(actor: User, person: User) -> bool:
    """Whether `actor` may see and manage `person` at all (if not, the person is not found)."""
    if actor.has_role(Role.PORTAL_ADMIN):
        return True
    # A partner lead manages their partner organisation's people, never council staff.
    return (
        actor.has_role(Role.PARTNER_LEAD)
        and actor.organisation.kind != OrganisationKind.COUNCIL
        and actor.organisation_id == person.organisation_id
    )


def roles_for_organisation(person: User) -> frozenset[Role]:
    """The roles that make sense for someone in `person`'s organisation."""
    if person.organisation.kind == OrganisationKind.COUNCIL:
        return COUNCIL_ROLES
    return PARTNER_ROLES


def grantable_roles(actor: User, person: User) -> frozenset[Role]:
    """The roles `actor` may give to, or take from, `person`."""
    if not may_manage(actor, person):
        return frozenset()
    allowed = roles_for_organisation(person)
    if not actor.has_role(Role.PORTAL_ADMIN):
        allowed &= PARTNER_ROLES
    return allowed


def check_roles(actor: User, person: User, before: frozenset[Role], after: frozenset[Role]) -> None:
    """Raise `Refused` unless `actor` may change `person`'s roles from `before` to `after`."""
    beyond = sorted((after ^ before) - grantable_roles(actor, person))
    if beyond:
        raise Refused(f"You cannot give or remove the {beyond[0].label.lower()} role")
    if actor.id == person.id:
        own = sorted((before - after) & MANAGING_ROLES)
        if own:
            raise Refused(f"You cannot remove your own {own[0].label.lower()} role")
        if after - before:
            raise Refused("You cannot give yourself a role: ask another administrator or lead")
    if not after:
        raise Refused("Select at least one role")


def may_widen(actor: User, person: User) -> bool:
    """Whether `actor` may let `person` do more (approve, reinstate, give a role) by themselves:
    an administrator at the council, a partner lead at their own organisation."""
    if person.organisation.kind == OrganisationKind.COUNCIL:
        return actor.has_role(Role.PORTAL_ADMIN)
    return actor.has_role(Role.PARTNER_LEAD) and actor.organisation_id == person.organisation_id


def check_widening(actor: User, person: User, what: str) -> None:
    """Raise `Refused` unless `actor` may let `person` do more by themselves."""
    if not may_widen(actor, person):
        raise Refused(
            f"Only {person.organisation.name}’s partner lead can {what}: you can propose "
            "someone as its partner lead on its access page"
        )


def check_suspension(actor: User, person: User) -> None:
    if actor.id == person.id:
        raise Refused("You cannot suspend yourself")
