"""Who may see and act on a request: the object-level rules behind the route rules.

Council: the worker who issued a request, and managers and workers of the case's team.
Partner: people of the addressed organisation, while the request is open — a request addressed
to a named person is theirs and their partner leads'. A revoked or expired request is gone for
the partner at once: the people who could see it while it was open — their account and the
role that let them see it held before it closed, or who demonstrably worked on it (opened it,
wrote or added to its answer, were named on it) — and may still by today's rule are told it
was withdrawn or closed, when, and by which team (a 410 page, nothing of its content). Anyone
else gets 404, including people who joined, or became a partner lead, after it closed: the
page would confirm to them that the reference exists.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from flask import abort
from flask_login import current_user
from sqlalchemy.orm import Session, joinedload
from werkzeug.exceptions import HTTPException

from portal import db
from portal.audit.actions import AuditAction
from portal.lifecycle import RequestStatus
from portal.models import (
    Attachment,
    AuditEvent,
    Case,
    Contribution,
    DelegationRequest,
    RequestOpening,
    Role,
    Team,
    User,
)
from portal.uk_time import last_uk_day

# The request's type, for the route modules that hand found requests back to the services.
__all__ = [
    "ClosedToPartner",
    "Closure",
    "DelegationRequest",
    "council_decides",
    "council_may_change",
    "council_may_see",
    "council_may_work_on",
    "councils_request",
    "has_lapsed",
    "open_to_partner",
    "partner_may_see",
    "partner_could_have_seen",
    "partner_was_addressed",
    "partners_request",
    "worked_on",
]

CLOSED_TO_PARTNERS = frozenset({RequestStatus.REVOKED, RequestStatus.EXPIRED})


def has_lapsed(request: DelegationRequest, now: datetime | None = None) -> bool:
    return (now or datetime.now(UTC)) >= request.expires_at


def open_to_partner(request: DelegationRequest, now: datetime | None = None) -> bool:
    return request.status not in CLOSED_TO_PARTNERS and not has_lapsed(request, now)


def partner_may_see(user: User, request: DelegationRequest, now: datetime | None = None) -> bool:
    return open_to_partner(request, now) and partner_was_addressed(user, request)


def partner_was_addressed(
    user: User, request: DelegationRequest, before: datetime | None = None
) -> bool:
    """The partner rule without the request's being open: who may see it while it is open.
    With `before`, as it stood then: the account, and the role that lets them see it, held
    since before that moment (a role keeps the time it was granted while it is held)."""
    if user.organisation_id != request.partner_organisation_id:
        return False
    if before is not None and not user.created_at < before:
        return False
    held = {a.role for a in user.role_assignments if before is None or a.granted_at < before}
    if held.isdisjoint({Role.PARTNER_CONTRIBUTOR, Role.PARTNER_LEAD}):
        return False
    named = request.named_recipient_id
    return named is None or named == user.id or Role.PARTNER_LEAD in held


def partner_could_have_seen(session: Session, user: User, request: DelegationRequest) -> bool:
    """Who is told that a withdrawn or closed request was: someone the partner rule admits
    today who also could have seen it while it was open — by the rule as it stood when it
    closed, or because they demonstrably worked on it. Anyone else must not learn that the
    reference exists."""
    if not partner_was_addressed(user, request):
        return False
    if partner_was_addressed(user, request, before=_closed_at(request)):
        return True
    if request.named_recipient_id == user.id:
        return True
    return bool(session.scalar(sa.select(worked_on(request, user.id).exists())))


def worked_on(request: DelegationRequest, person_id: uuid.UUID | None = None) -> sa.Select[Any]:
    """The ids of the people at the partner who worked on the request, as the answering
    pages record it (one id a row, perhaps repeated): opened its page (audited reads, and
    the pilot's first opening), read its children's details on an answering page (not in a
    list), started or added to its answer (drafts discarded since included), or uploaded a
    document to it. With `person_id`, only that person's rows."""
    event = AuditEvent
    on_record = sa.select(event.actor_user_id.label("person_id")).where(
        event.object_id == request.reference,  # the (object_id, action) index
        event.actor_organisation_id == request.partner_organisation_id,
        sa.or_(
            event.action == AuditAction.REQUEST_VIEWED.value,
            sa.and_(
                event.action == AuditAction.CHILD_DETAILS_VIEWED.value,
                event.details["shown_in"].as_string().is_(None),
            ),
        ),
    )
    opened = sa.select(RequestOpening.opened_by_id).where(RequestOpening.request_id == request.id)
    answers = sa.select(Contribution.id).where(Contribution.request_id == request.id)
    wrote = sa.select(Contribution.created_by_id).where(Contribution.request_id == request.id)
    uploaded = sa.select(Attachment.uploaded_by_id).where(
        Attachment.contribution_id.in_(answers.scalar_subquery())
    )
    if person_id is not None:
        on_record = on_record.where(event.actor_user_id == person_id)
        opened = opened.where(RequestOpening.opened_by_id == person_id)
        wrote = wrote.where(Contribution.created_by_id == person_id)
        uploaded = uploaded.where(Attachment.uploaded_by_id == person_id)
    everyone = sa.union_all(on_record, opened, wrote, uploaded).subquery()
    return sa.select(everyone.c.person_id)


def partner_sees(user: User, now: datetime) -> sa.ColumnElement[bool]:
    """partner_may_see as a condition on delegation_requests, for lists (the inbox): the same
    rule, row by row (tests/integration/test_inbox_list.py holds them together)."""
    if not user.has_role(Role.PARTNER_CONTRIBUTOR, Role.PARTNER_LEAD):
        return sa.false()
    visible = sa.and_(
        DelegationRequest.partner_organisation_id == user.organisation_id,
        DelegationRequest.status.not_in(CLOSED_TO_PARTNERS),
        DelegationRequest.expires_at > now,
    )
    if user.has_role(Role.PARTNER_LEAD):
        return visible
    named = DelegationRequest.named_recipient_id
    return sa.and_(visible, sa.or_(named.is_(None), named == user.id))


def council_may_see(user: User, request: DelegationRequest) -> bool:
    if request.requested_by_id == user.id:
        return True
    if not user.has_role(Role.SOCIAL_WORKER, Role.TEAM_MANAGER):
        return False
    return user.team_id is not None and user.team_id == request.case.team_id


def council_sees(user: User) -> sa.ColumnElement[bool]:
    """council_may_see as a condition on delegation_requests, for lists (My requests): the
    same rule, row by row (tests/integration/test_my_requests.py holds them together)."""
    issued = DelegationRequest.requested_by_id == user.id
    if not user.has_role(Role.SOCIAL_WORKER, Role.TEAM_MANAGER) or user.team_id is None:
        return issued
    teams_cases = sa.select(Case.id).where(Case.team_id == user.team_id)
    return sa.or_(issued, DelegationRequest.case_id.in_(teams_cases))


def council_may_work_on(user: User, team_id: uuid.UUID) -> bool:
    """Open a case and issue requests on it: workers and managers of the case's own team."""
    return (
        user.has_role(Role.SOCIAL_WORKER, Role.TEAM_MANAGER)
        and user.team_id is not None
        and user.team_id == team_id
    )


def council_may_change(user: User, request: DelegationRequest) -> bool:
    """Revoke or extend: the issuer, or a manager of the case's team."""
    if request.requested_by_id == user.id:
        return True
    return user.has_role(Role.TEAM_MANAGER) and user.team_id == request.case.team_id


def council_decides(user: User) -> sa.ColumnElement[bool]:
    """council_may_change as a condition on delegation_requests, for lists and counts (what
    awaits the person's review is what they may decide): the same rule, row by row
    (tests/integration/test_my_requests.py holds them together)."""
    issued = DelegationRequest.requested_by_id == user.id
    if not user.has_role(Role.TEAM_MANAGER) or user.team_id is None:
        return issued
    teams_cases = sa.select(Case.id).where(Case.team_id == user.team_id)
    return sa.or_(issued, DelegationRequest.case_id.in_(teams_cases))


@dataclass(frozen=True)
class Closure:
    """What a withdrawn or closed request's page says: nothing of its content."""

    reference: str
    withdrawn: bool  # by the council; otherwise it closed on its closing date
    closed_at: datetime  # withdrawn: then; lapsed: the start of the UK day after its last
    team_name: str
    status: RequestStatus  # as it stands: what became of any answer (an expired request's
    # status says nothing was sent, or returned; a submitted one may still be reviewed)

    @property
    def closing_date(self) -> date:
        """The last UK day it was open: a lapsed request closed at the end of it."""
        return last_uk_day(self.closed_at)


class ClosedToPartner(HTTPException):
    """Raised on any partner page of a request withdrawn or closed since it was open to this
    person: answered with a page saying so (portal/requests/partner.py), not with 404."""

    code = 410
    description = "This request has been withdrawn or has closed."

    def __init__(self, closure: Closure, found: DelegationRequest) -> None:
        super().__init__()
        self.closure = closure
        self.found = found  # for the copies of what was sent the page links


def _closed_at(request: DelegationRequest) -> datetime:
    """When it closed to the partner: withdrawn, then; otherwise at the end of its closing
    date, whether or not the run that marks lapsed requests expired has reached it yet."""
    if request.status is RequestStatus.REVOKED:
        return request.closed_at or request.expires_at
    return request.expires_at


def closure_of(session: Session, request: DelegationRequest) -> Closure:
    withdrawn = request.status is RequestStatus.REVOKED
    if withdrawn:
        team = _withdrawing_team(session, request)
    else:  # it lapsed: the team of whoever asked
        issuer = session.get(User, request.requested_by_id)
        team = issuer.team if issuer is not None else None
    name = (team or request.case.team).name
    return Closure(request.reference, withdrawn, _closed_at(request), name, request.status)


def _withdrawing_team(session: Session, request: DelegationRequest) -> Team | None:
    """The team of whoever withdrew it, as the withdrawal recorded it (or, recorded before
    it did, their team now); None if the record names no team (the case's is said instead)."""
    event = session.scalar(
        sa.select(AuditEvent)
        .where(
            AuditEvent.object_id == request.reference,  # the (object_id, action) index
            AuditEvent.action == AuditAction.REQUEST_REVOKED.value,
        )
        .order_by(AuditEvent.seq.desc())
        .limit(1)
    )
    if event is None:
        return None
    team_id = event.details.get("team_id")
    if isinstance(team_id, str):
        return session.get(Team, uuid.UUID(team_id))
    actor = session.get(User, event.actor_user_id) if event.actor_user_id else None
    return actor.team if actor is not None else None


def partners_request(reference: str) -> DelegationRequest:
    """The request with this reference if the signed-in partner may see it. Withdrawn or
    closed, and the person could see it while it was open (partner_could_have_seen):
    ClosedToPartner. Otherwise 404, whether it is another organisation's, not theirs, closed
    before they could see it, or does not exist: no trace either way."""
    found = _found(reference)
    if found is not None and not partner_may_see(current_user, found):
        if partner_could_have_seen(db.session(), current_user, found):
            raise ClosedToPartner(closure_of(db.session(), found), found)
    return _allowed(found, partner_may_see)


def councils_request(reference: str) -> DelegationRequest:
    """The request with this reference if the signed-in council person may see it; else 404."""
    return _allowed(_found(reference), council_may_see)


def _found(reference: str) -> DelegationRequest | None:
    return db.session().scalar(
        sa.select(DelegationRequest)
        .where(DelegationRequest.reference == reference.upper())
        # Every request page needs the case (whose team decides who may see it) and its team.
        .options(joinedload(DelegationRequest.case).joinedload(Case.team))
    )


def _allowed(
    found: DelegationRequest | None, may_see: Callable[[User, DelegationRequest], bool]
) -> DelegationRequest:
    if found is None or not may_see(current_user, found):
        abort(404)
    return found
