"""What `make demo` prints once the demo is seeded: every sign-in address, grouped by role,
with what that person can try now, and the demo's case references. Read from the database,
so it says what is there (requests waiting, organisations joining), not what was planned."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.demo.seed import NEWCOMERS, PEOPLE, DemoPerson
from portal.lifecycle import OutboxStatus, RequestStatus
from portal.models import (
    Case,
    Child,
    DelegationRequest,
    Organisation,
    OrganisationKind,
    OrganisationStage,
    OutboxMessage,
    Role,
    Team,
    User,
)
from portal.requests.recipients import OPEN_STATUSES

# The role a person is listed under: the first of theirs in this order.
ROLE_ORDER = (
    Role.SOCIAL_WORKER,
    Role.TEAM_MANAGER,
    Role.PARTNER_LEAD,
    Role.PARTNER_CONTRIBUTOR,
    Role.IG_OFFICER,
    Role.PARTNER_ENGAGEMENT_OFFICER,
    Role.PORTAL_ADMIN,
)
NOT_YET_APPROVED = "Not yet in the portal"


@dataclass(frozen=True)
class CaseLine:
    reference: str
    team: str
    children: int
    requests: int
    open_requests: int


def guide(session: Session) -> str:
    """The sign-in table, one block per role, then the cases."""
    lines = ["Sign in as any of these people (address, name, organisation, what to try):"]
    groups: dict[str, list[DemoPerson]] = {}
    for person in (*PEOPLE, *NEWCOMERS):
        groups.setdefault(_group(person), []).append(person)
    width = max(len(person.email) for person in (*PEOPLE, *NEWCOMERS))
    name_width = max(len(person.name) for person in (*PEOPLE, *NEWCOMERS))
    for heading, people in groups.items():
        lines.append(f"  {heading}")
        for person in people:
            lines.append(
                f"    {person.email:<{width}}  {person.name:<{name_width}}  "
                f"{person.organisation}: {to_try(session, person)}"
            )
    cases = case_lines(session)
    lines.append("Case references to try (on the CMS and in the portal):")
    ref_width = max((len(case.reference) for case in cases), default=0)
    for case in cases:
        lines.append(
            f"    {case.reference:<{ref_width}}  {case.team}, "
            f"{_count(case.children, 'child', 'children')}, {case.open_requests} open "
            f"{'request' if case.open_requests == 1 else 'requests'} "
            f"({case.requests} in all)"
        )
    return "\n".join(lines)


def _group(person: DemoPerson) -> str:
    role = next((role for role in ROLE_ORDER if role in person.roles), None)
    return role.label if role is not None else NOT_YET_APPROVED


def to_try(session: Session, person: DemoPerson) -> str:
    """One line: what this person has waiting, or where to start."""
    if not person.roles:
        return _NEWCOMERS.get(person.subject, "first sign-in waits for approval")
    for role in ROLE_ORDER:
        if role in person.roles:
            return _TRIES[role](session, person)
    return "sign in and look around"


def _user(session: Session, person: DemoPerson) -> User | None:
    return session.scalar(sa.select(User).where(User.email == person.email))


def _partner(session: Session, person: DemoPerson) -> str:
    waiting = session.scalar(
        sa.select(sa.func.count())
        .select_from(DelegationRequest)
        .join(Organisation, Organisation.id == DelegationRequest.partner_organisation_id)
        .where(
            Organisation.name == person.organisation, DelegationRequest.status.in_(OPEN_STATUSES)
        )
    )
    if waiting:
        return f"has {_count(waiting, 'request')} to answer"
    return "nothing to answer yet: send them a request as the social worker, then answer it"


def _worker(session: Session, person: DemoPerson) -> str:
    user = _user(session, person)
    if user is None:
        return "not in the portal"
    cases = session.scalar(
        sa.select(sa.func.count()).select_from(Case).where(Case.allocated_worker_id == user.id)
    )
    to_review = session.scalar(
        sa.select(sa.func.count())
        .select_from(DelegationRequest)
        .where(
            DelegationRequest.requested_by_id == user.id,
            DelegationRequest.status == RequestStatus.SUBMITTED,
        )
    )
    review = f"; {_count(to_review, 'contribution')} to review" if to_review else ""
    return f"{_count(cases or 0, 'case')} allocated: send a request on one{review}"


def _manager(session: Session, person: DemoPerson) -> str:
    return f"oversees {person.team}: its requests and reviews"


def _ig(session: Session, person: DemoPerson) -> str:
    return "who has seen a child's information: Who has seen, case NCC-100234; check an export"


def _engagement(session: Session, person: DemoPerson) -> str:
    stages = Counter(
        dict(
            session.execute(
                sa.select(Organisation.stage, sa.func.count())
                .where(Organisation.kind != OrganisationKind.COUNCIL)
                .group_by(Organisation.stage)
            ).all()
        )
    )
    joining = stages[OrganisationStage.PROPOSED] + stages[OrganisationStage.ONBOARDING]
    return (
        f"{_count(joining, 'organisation')} joining, {stages[OrganisationStage.PAUSED]} "
        "paused: take one through onboarding"
    )


def _admin(session: Session, person: DemoPerson) -> str:
    stopped = session.scalar(
        sa.select(sa.func.count())
        .select_from(OutboxMessage)
        .where(OutboxMessage.status == OutboxStatus.DEAD_LETTERED)
    )
    return f"{_count(stopped or 0, 'delivery', 'deliveries')} stopped; register a school's provider"


_NEWCOMERS = {
    "new-1": "first sign-in waits for the partner lead's approval",
    "yjs-1": "first sign-in is the onboarding agency's test sign-in",
    "lead-1": "their school is not in the portal yet: walk its onboarding",
}

_TRIES: dict[Role, Callable[[Session, DemoPerson], str]] = {
    Role.SOCIAL_WORKER: _worker,
    Role.TEAM_MANAGER: _manager,
    Role.PARTNER_LEAD: _partner,
    Role.PARTNER_CONTRIBUTOR: _partner,
    Role.IG_OFFICER: _ig,
    Role.PARTNER_ENGAGEMENT_OFFICER: _engagement,
    Role.PORTAL_ADMIN: _admin,
}


def case_lines(session: Session) -> list[CaseLine]:
    """Every case the demo holds, with its team and how many children and requests."""
    children = sa.select(sa.func.count()).where(Child.case_id == Case.id).scalar_subquery()
    requests = (
        sa.select(sa.func.count()).where(DelegationRequest.case_id == Case.id).scalar_subquery()
    )
    open_requests = (
        sa.select(sa.func.count())
        .where(DelegationRequest.case_id == Case.id, DelegationRequest.status.in_(OPEN_STATUSES))
        .scalar_subquery()
    )
    rows = session.execute(
        sa.select(Case.cms_reference, Team.name, children, requests, open_requests)
        .join(Team, Team.id == Case.team_id)
        .order_by(Case.cms_reference)
    ).all()
    return [CaseLine(*row) for row in rows]


def _count(number: int, singular: str, plural: str | None = None) -> str:
    return f"{number} {singular if number == 1 else (plural or singular + 's')}"
