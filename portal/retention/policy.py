"""Which closed requests are due for shredding: the end of each outcome, and its period."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from portal.lifecycle import RequestStatus
from portal.models import Contribution, DelegationRequest
from portal.models.requests import LegalHold
from portal.settings import RetentionSettings

_R = RequestStatus
# Outcomes counted from the request's closing time (set on rejection, revocation, expiry, and
# when the partner knows none of the children).
_CLOSED = (_R.REJECTED, _R.REVOKED, _R.EXPIRED, _R.CHILD_NOT_KNOWN)
OUTCOMES = (_R.DELIVERED, *_CLOSED)


def retention_days(settings: RetentionSettings, outcome: RequestStatus) -> int:
    days: int = getattr(settings, f"{outcome.value}_days")
    return days


def due_for_shredding(settings: RetentionSettings, now: datetime) -> ColumnElement[bool]:
    """Requests whose content is still held, that are not on legal hold, and whose outcome's
    period has passed: delivered ones counted from delivery, the others from closing."""
    request = DelegationRequest

    def cutoff(outcome: RequestStatus) -> datetime:
        return now - timedelta(days=retention_days(settings, outcome))

    delivered = sa.and_(
        request.status == _R.DELIVERED,
        sa.exists().where(
            Contribution.request_id == request.id,
            Contribution.delivered_at <= cutoff(_R.DELIVERED),
        ),
    )
    closed = [
        sa.and_(request.status == outcome, request.closed_at <= cutoff(outcome))
        for outcome in _CLOSED
    ]
    return sa.and_(
        request.content_shredded_at.is_(None),
        ~sa.exists().where(LegalHold.request_id == request.id),
        sa.or_(delivered, *closed),
    )
