"""Who a request reaches: the open states a partner works in, and the people at a partner
organisation who may answer. Both the request services and the e-mail queue need them, so they
live here, importing neither (which keeps portal.notifications below portal.requests.services)."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.lifecycle import RequestStatus
from portal.models import Role, User, UserStatus

OPEN_STATUSES = frozenset({RequestStatus.ISSUED, RequestStatus.IN_PROGRESS, RequestStatus.RETURNED})


def partner_people(session: Session, organisation_ids: list[uuid.UUID]) -> list[User]:
    """Active people at those partners who can answer requests."""
    people = session.scalars(
        sa.select(User)
        .where(User.organisation_id.in_(organisation_ids), User.status == UserStatus.ACTIVE)
        .order_by(User.display_name)
    )
    return [p for p in people if p.has_role(Role.PARTNER_CONTRIBUTOR, Role.PARTNER_LEAD)]
