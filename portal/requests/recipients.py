"""Who a request reaches: the open states a partner works in, the people at a partner
organisation who may answer, and those of them who opened a request (told when it is
withdrawn). Both the request services and the e-mail queue need them, so they live here,
importing neither (which keeps portal.notifications below portal.requests.services)."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.audit.actions import AuditAction
from portal.lifecycle import RequestStatus
from portal.models import AuditEvent, DelegationRequest, RequestOpening, Role, User, UserStatus
from portal.requests.access import partner_was_addressed

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
    """The active people at the request's partner who opened it (its page's audited reads,
    and the pilot's first opening, which an answering page may have been) and may still see
    it by the partner rule, the request apart: those told when the council withdraws it."""
    viewed = sa.select(AuditEvent.actor_user_id).where(
        AuditEvent.object_id == request.reference,  # the (object_id, action) index
        AuditEvent.action == AuditAction.REQUEST_VIEWED.value,
        AuditEvent.actor_organisation_id == request.partner_organisation_id,
    )
    first = sa.select(RequestOpening.opened_by_id).where(RequestOpening.request_id == request.id)
    people = session.scalars(
        sa.select(User)
        .where(
            User.id.in_(sa.union(viewed, first).subquery().select()),
            User.organisation_id == request.partner_organisation_id,
            User.status == UserStatus.ACTIVE,
        )
        .order_by(User.display_name, User.id)
    )
    return [person.id for person in people if partner_was_addressed(person, request)]
