"""Who a request reaches: the open states a partner works in, the people at a partner
organisation who may answer, and those of them who opened a request (told when it is
withdrawn). Both the request services and the e-mail queue need them, so they live here,
importing neither (which keeps portal.notifications below portal.requests.services)."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.lifecycle import RequestStatus
from portal.models import (
    DelegationRequest,
    Role,
    User,
    UserStatus,
)
from portal.requests.access import partner_was_addressed, worked_on

OPEN_STATUSES = frozenset({RequestStatus.ISSUED, RequestStatus.IN_PROGRESS, RequestStatus.RETURNED})


def partner_people(session: Session, organisation_ids: list[uuid.UUID]) -> list[User]:
    """Active people at those partners who can answer requests."""
    people = session.scalars(
        sa.select(User)
        .where(User.organisation_id.in_(organisation_ids), User.status == UserStatus.ACTIVE)
        .order_by(User.display_name)
    )
    return [p for p in people if p.has_role(Role.PARTNER_CONTRIBUTOR, Role.PARTNER_LEAD)]


def partners_who_opened(session: Session, request: DelegationRequest) -> list[uuid.UUID]:
    """The people at the request's partner who worked on it (access.worked_on: opened it,
    read its children on an answering page, wrote or added documents to its answer, drafts
    discarded since included), who are active at an active organisation that has not left
    (the rule signing in uses) and may still see it by the partner rule, the request apart:
    those told when the council withdraws it."""
    if not request.partner_organisation.in_service:
        return []
    people = session.scalars(
        sa.select(User)
        .where(
            User.id.in_(worked_on(request).subquery().select()),
            User.organisation_id == request.partner_organisation_id,
            User.status == UserStatus.ACTIVE,
        )
        .order_by(User.display_name, User.id)
    )
    return [person.id for person in people if partner_was_addressed(person, request)]
