"""Approving, suspending and reinstating people and changing their roles, each one audited.

Every function checks `portal.people.policy` first and records its audit event in the caller's
transaction; audit details carry role codes and statuses, never names or addresses.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.audit import SYSTEM, AuditAction, record_event
from portal.auth.login import actor_for
from portal.auth.sessions import end_sessions
from portal.models import (
    Organisation,
    OrganisationKind,
    Role,
    RoleAssignment,
    RoleSource,
    UserStatus,
)

# What the people pages name, so that their route module never imports the data model.
from portal.models import OrganisationChange as OrganisationChange
from portal.models import User as User
from portal.onboarding.changes import ChangeRefused, propose_partner_lead
from portal.people.policy import (
    Refused,
    check_roles,
    check_suspension,
    check_widening,
    grantable_roles,
    may_manage,
)

# A change to a person's roles (approve, change_roles) and an action on them (suspend,
# reinstate), as the pages call them: the session, who acts, on whom.
RoleChange = Callable[[Session, User, User, frozenset[Role]], object]
PersonAction = Callable[[Session, User, User], None]

_STATUS_ORDER = sa.case(
    (User.status == UserStatus.PENDING, 0), (User.status == UserStatus.ACTIVE, 1), else_=2
)


def people_in_scope(session: Session, actor: User) -> list[User]:
    """Everyone `actor` manages, people waiting for approval first."""
    query = sa.select(User).join(Organisation, User.organisation_id == Organisation.id)
    if not actor.has_role(Role.PORTAL_ADMIN):
        query = query.where(User.organisation_id == actor.organisation_id)
    query = query.order_by(_STATUS_ORDER, Organisation.name, User.display_name, User.id)
    return [person for person in session.scalars(query) if may_manage(actor, person)]


def waiting_for_approval(people: list[User]) -> int:
    return sum(1 for person in people if person.status == UserStatus.PENDING)


def person_in_scope(session: Session, actor: User, user_id: uuid.UUID) -> User | None:
    """The person, or None when they do not exist or `actor` may not manage them: the two
    look the same from outside, so nobody learns of people outside their organisation."""
    person = session.get(User, user_id)
    if person is None or not may_manage(actor, person):
        return None
    return person


def provider_roles(person: User) -> frozenset[Role]:
    """Roles the person's identity provider gives; renewed at each sign-in, so kept here."""
    return frozenset(
        a.role for a in person.role_assignments if a.source == RoleSource.IDENTITY_PROVIDER
    )


def roles_after(actor: User, person: User, chosen: frozenset[Role]) -> frozenset[Role]:
    """The person's roles once `chosen` replaces the roles `actor` was offered to change."""
    offered = grantable_roles(actor, person) - provider_roles(person)
    return (person.roles - offered) | provider_roles(person) | chosen


def approve(session: Session, actor: User, person: User, chosen: frozenset[Role]) -> None:
    if person.status != UserStatus.PENDING:
        raise Refused(f"{person.display_name} is not waiting for approval")
    after = roles_after(actor, person, chosen)
    check_roles(actor, person, person.roles, after)
    check_widening(actor, person, "approve its people")
    if _lead_added(person, person.roles, after):
        raise Refused(
            "Approve them as a partner contributor first: making someone partner lead needs a "
            "second person’s approval"
        )
    _set_roles(person, after, granted_by=actor)
    for grant in person.role_assignments:
        # Approving lets them act with every role they hold, the identity provider's too:
        # recorded, so that they never decide a change the approver proposed.
        grant.granted_by_id = grant.granted_by_id or actor.id
    person.status = UserStatus.ACTIVE
    record_event(
        session,
        AuditAction.USER_APPROVED,
        actor=actor_for(actor),
        object_type="user",
        object_id=person.id,
        details={"organisation_id": str(person.organisation_id), "roles": _codes(after)},
    )


def change_roles(
    session: Session, actor: User, person: User, chosen: frozenset[Role]
) -> OrganisationChange | bool:
    """Change the person's roles; whether anything changed. Making someone partner lead is
    proposed for a second person's approval instead (the proposal is returned); taking roles
    away, and the rest, happen at once."""
    if person.status == UserStatus.PENDING:
        raise Refused(f"Approve {person.display_name} before changing their roles")
    before = person.roles
    after = roles_after(actor, person, chosen)
    check_roles(actor, person, before, after)
    if (after - before) - {Role.PARTNER_LEAD}:
        check_widening(actor, person, "give its people roles")
    if _lead_added(person, before, after):
        # The rest now; never no role at all while the lead role waits for approval.
        _change_roles_now(session, actor, person, before, (after - {Role.PARTNER_LEAD}) or before)
        try:
            return propose_partner_lead(session, person, proposer=actor)
        except ChangeRefused as refusal:
            raise Refused(str(refusal)) from refusal
    return _change_roles_now(session, actor, person, before, after)


def _lead_added(person: User, before: frozenset[Role], after: frozenset[Role]) -> bool:
    return (
        person.organisation.kind != OrganisationKind.COUNCIL and Role.PARTNER_LEAD in after - before
    )


def _change_roles_now(
    session: Session, actor: User, person: User, before: frozenset[Role], after: frozenset[Role]
) -> bool:
    if after == before:
        return False
    _set_roles(person, after, granted_by=actor)
    record_event(
        session,
        AuditAction.ROLES_CHANGED,
        actor=actor_for(actor),
        object_type="user",
        object_id=person.id,
        details={
            "source": RoleSource.LOCAL.value,
            "roles": _codes(after),
            "added": _codes(after - before),
            "removed": _codes(before - after),
        },
    )
    return True


def suspend(session: Session, actor: User | None, person: User) -> None:
    """Suspend the person and end every session they have, at once. No actor: an operator's
    command (`portal people suspend`), recorded as the system."""
    if actor is not None:
        check_suspension(actor, person)
    if person.status == UserStatus.SUSPENDED:
        raise Refused(f"{person.display_name} is already suspended")
    previous = person.status
    person.status = UserStatus.SUSPENDED
    ended = end_sessions(session, user_id=person.id)
    record_event(
        session,
        AuditAction.USER_SUSPENDED,
        actor=SYSTEM if actor is None else actor_for(actor),
        object_type="user",
        object_id=person.id,
        details={"previous_status": previous.value, "sessions_ended": ended},
    )


def reinstate(session: Session, actor: User | None, person: User) -> None:
    if person.status != UserStatus.SUSPENDED:
        raise Refused(f"{person.display_name} is not suspended")
    if actor is not None:
        check_widening(actor, person, "reinstate its people")
    person.status = UserStatus.ACTIVE
    record_event(
        session,
        AuditAction.USER_REINSTATED,
        actor=SYSTEM if actor is None else actor_for(actor),
        object_type="user",
        object_id=person.id,
        details={"roles": _codes(person.roles)},
    )


def _set_roles(person: User, roles: frozenset[Role], *, granted_by: User) -> None:
    kept = [a for a in person.role_assignments if a.role in roles]
    held = {a.role for a in kept}
    for role in sorted(roles - held):
        kept.append(RoleAssignment(role=role, source=RoleSource.LOCAL, granted_by_id=granted_by.id))
    person.role_assignments = kept


def _codes(roles: frozenset[Role]) -> str:
    return ",".join(sorted(role.value for role in roles))
