"""Who may see and act on a request: the object-level rules behind the route rules.

Council: the worker who issued a request, and managers and workers of the case's team.
Partner: people of the addressed organisation, while the request is open — a request addressed
to a named person is theirs and their partner leads'. A revoked or expired request is gone for
the partner at once.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import sqlalchemy as sa
from flask import abort
from flask_login import current_user
from sqlalchemy.orm import joinedload

from portal import db
from portal.lifecycle import RequestStatus
from portal.models import Case, DelegationRequest, Role, User

# The request's type, for the route modules that hand found requests back to the services.
__all__ = [
    "DelegationRequest",
    "council_may_change",
    "council_may_see",
    "council_may_work_on",
    "councils_request",
    "has_lapsed",
    "open_to_partner",
    "partner_may_see",
    "partners_request",
]

CLOSED_TO_PARTNERS = frozenset({RequestStatus.REVOKED, RequestStatus.EXPIRED})


def has_lapsed(request: DelegationRequest, now: datetime | None = None) -> bool:
    return (now or datetime.now(UTC)) >= request.expires_at


def open_to_partner(request: DelegationRequest, now: datetime | None = None) -> bool:
    return request.status not in CLOSED_TO_PARTNERS and not has_lapsed(request, now)


def partner_may_see(user: User, request: DelegationRequest, now: datetime | None = None) -> bool:
    if user.organisation_id != request.partner_organisation_id:
        return False
    if not open_to_partner(request, now):
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


def partners_request(reference: str) -> DelegationRequest:
    """The request with this reference if the signed-in partner may see it; otherwise 404,
    whether it is another organisation's, closed, or does not exist: no trace either way."""
    return _visible(reference, partner_may_see)


def councils_request(reference: str) -> DelegationRequest:
    """The request with this reference if the signed-in council person may see it; else 404."""
    return _visible(reference, council_may_see)


def _visible(
    reference: str, may_see: Callable[[User, DelegationRequest], bool]
) -> DelegationRequest:
    found = db.session().scalar(
        sa.select(DelegationRequest)
        .where(DelegationRequest.reference == reference.upper())
        # Every request page needs the case (whose team decides who may see it) and its team.
        .options(joinedload(DelegationRequest.case).joinedload(Case.team))
    )
    if found is None or not may_see(current_user, found):
        abort(404)
    return found
