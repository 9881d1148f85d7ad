"""Who may see and act on a request: the object-level rules behind the route rules.

Council: the worker who issued a request, and managers and workers of the case's team.
Partner: people of the addressed organisation, while the request is open — a request addressed
to a named person is theirs and their partner leads'. A revoked or expired request is gone for
the partner at once: the people who could see it while it was open are told it was withdrawn
or closed, when, and by which team (a 410 page, nothing of its content); anyone else gets 404.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from flask import abort
from flask_login import current_user
from sqlalchemy.orm import joinedload
from werkzeug.exceptions import HTTPException

from portal import db
from portal.lifecycle import RequestStatus
from portal.models import Case, DelegationRequest, Role, User

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
    "partner_was_addressed",
    "partners_request",
]

CLOSED_TO_PARTNERS = frozenset({RequestStatus.REVOKED, RequestStatus.EXPIRED})


def has_lapsed(request: DelegationRequest, now: datetime | None = None) -> bool:
    return (now or datetime.now(UTC)) >= request.expires_at


def open_to_partner(request: DelegationRequest, now: datetime | None = None) -> bool:
    return request.status not in CLOSED_TO_PARTNERS and not has_lapsed(request, now)


def partner_may_see(user: User, request: DelegationRequest, now: datetime | None = None) -> bool:
    return open_to_partner(request, now) and partner_was_addressed(user, request)


def partner_was_addressed(user: User, request: DelegationRequest) -> bool:
    """The partner rule without the request's being open: who may see it while it is open,
    and so who is told, once it is withdrawn or closed, that it was."""
    if user.organisation_id != request.partner_organisation_id:
        return False
    if not user.has_role(Role.PARTNER_CONTRIBUTOR, Role.PARTNER_LEAD):
        return False
    named = request.named_recipient_id
    return named is None or named == user.id or user.has_role(Role.PARTNER_LEAD)


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
    closed_at: datetime
    team_name: str


class ClosedToPartner(HTTPException):
    """Raised on any partner page of a request withdrawn or closed since it was open to this
    person: answered with a page saying so (portal/requests/partner.py), not with 404."""

    code = 410
    description = "This request has been withdrawn or has closed."

    def __init__(self, closure: Closure) -> None:
        super().__init__()
        self.closure = closure


def closure_of(request: DelegationRequest) -> Closure:
    withdrawn = request.status is RequestStatus.REVOKED
    # Not withdrawn, it closed at the end of its closing date, whether or not the run that
    # marks lapsed requests expired has reached it yet.
    closed_at = (request.closed_at or request.expires_at) if withdrawn else request.expires_at
    return Closure(request.reference, withdrawn, closed_at, request.case.team.name)


def partners_request(reference: str) -> DelegationRequest:
    """The request with this reference if the signed-in partner may see it. Withdrawn or
    closed, and the person could see it while it was open: ClosedToPartner. Otherwise 404,
    whether it is another organisation's, not theirs, or does not exist: no trace either way."""
    found = _found(reference)
    if found is not None and not partner_may_see(current_user, found):
        if partner_was_addressed(current_user, found):
            raise ClosedToPartner(closure_of(found))
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
