"""What a delivery's outcome changes beyond its outbox row, in the worker's transaction: the
contribution and its request moved on to delivered, a failure's audit event, and what a failed
attempt does to its row (dead-lettered, or when to try again)."""

from __future__ import annotations

import math
import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

import sqlalchemy as sa
from sqlalchemy.orm import Session, joinedload

from portal.audit import AuditAction, record_event
from portal.connector.adapter import CmsFailure
from portal.lifecycle import (
    CONTRIBUTION_LIFECYCLE,
    ContributionStatus,
    OutboxStatus,
    RequestStatus,
    TransitionRefused,
)
from portal.models import AuditOutcome, Contribution, DelegationRequest
from portal.settings import Settings

# The longest a CMS's Retry-After is obeyed.
MAX_RETRY_AFTER = timedelta(days=1)
_CONTRIBUTIONS = cast(sa.Table, Contribution.__table__)
_DELIVERABLE_CONTRIBUTION = tuple(
    status
    for status in ContributionStatus
    if CONTRIBUTION_LIFECYCLE.allows(status, ContributionStatus.DELIVERED)
)
_REQUESTS = cast(sa.Table, DelegationRequest.__table__)


def mark_delivered(
    session: Session, contribution_id: uuid.UUID, record_id: str, now: datetime
) -> None:
    """The contribution is delivered, and its request too unless it has moved on: two
    statements, each conditional on the lifecycle allowing the move (and counting the row's
    version, as the models do)."""
    delivered = session.execute(
        sa.update(_CONTRIBUTIONS)
        .where(
            _CONTRIBUTIONS.c.id == contribution_id,
            _CONTRIBUTIONS.c.status.in_(_DELIVERABLE_CONTRIBUTION),
        )
        .values(
            status=ContributionStatus.DELIVERED,
            cms_record_id=record_id,
            delivered_at=now,
            row_version=_CONTRIBUTIONS.c.row_version + 1,
        )
        .returning(_CONTRIBUTIONS.c.request_id)
    ).first()
    if delivered is None:
        current = session.execute(
            sa.select(_CONTRIBUTIONS.c.status).where(_CONTRIBUTIONS.c.id == contribution_id)
        ).scalar_one()
        raise TransitionRefused(
            CONTRIBUTION_LIFECYCLE.kind, ContributionStatus(current), ContributionStatus.DELIVERED
        )
    session.execute(
        sa.update(_REQUESTS)
        .where(
            _REQUESTS.c.id == delivered.request_id,
            _REQUESTS.c.status == RequestStatus.ACCEPTED,
        )
        .values(status=RequestStatus.DELIVERED, row_version=_REQUESTS.c.row_version + 1)
    )


def contribution_with_case(session: Session, contribution_id: uuid.UUID) -> Contribution:
    """The contribution with its request and case, which its outcome's event names: one query."""
    return session.execute(
        sa.select(Contribution)
        .where(Contribution.id == contribution_id)
        .options(joinedload(Contribution.request).joinedload(DelegationRequest.case))
    ).scalar_one()


def record_failure_event(
    session: Session,
    failed: FailedAttempt,
    contribution_id: uuid.UUID,
    *,
    attempt: int,
    worker: str,
) -> None:
    """A failed attempt's audit event (dead-lettered, or to be tried again): codes only."""
    contribution = contribution_with_case(session, contribution_id)
    record_event(
        session,
        AuditAction.DELIVERY_DEAD_LETTERED if failed.final else AuditAction.DELIVERY_FAILED,
        outcome=AuditOutcome.FAILURE,
        object_type="contribution",
        object_id=contribution.id,
        case_reference=contribution.request.case.cms_reference,
        details={
            "request": contribution.request.reference,
            "version": contribution.version,
            "attempt": attempt,
            "code": failed.failure.code,
            "retry_in_seconds": round(failed.retry_in.total_seconds()) if failed.retry_in else None,
            "worker": worker,
        },
    )


def retry_delay(settings: Settings, attempt: int, retry_after: float | None = None) -> timedelta:
    """Exponential backoff with jitter (so a queue held up by an outage does not all arrive at
    once afterwards), never sooner than the CMS's Retry-After asked."""
    cms = settings.cms
    backoff = min(
        cms.retry_base_seconds * (2 ** min(max(attempt - 1, 0), 30)), cms.retry_ceiling_seconds
    )
    delay = timedelta(seconds=backoff * random.uniform(0.5, 1.0))  # noqa: S311 - spreading, not a secret
    if retry_after is not None and math.isfinite(retry_after):
        asked = min(max(retry_after, 0.0), MAX_RETRY_AFTER.total_seconds())
        delay = max(delay, timedelta(seconds=asked))
    return delay


@dataclass(frozen=True)
class FailedAttempt:
    """A failed attempt's outcome, decided once, when the CMS answers (or the delivery could
    not be built): recorded later than that, after a database outage, it still waits from the
    answer, as the CMS asked, and the contribution is not sent again meanwhile."""

    failure: CmsFailure
    final: bool  # dead-lettered: permanent, or the last attempt allowed
    retry_in: timedelta | None  # None when final
    retry_at: datetime | None

    @property
    def outcome(self) -> str:
        return "dead_lettered" if self.final else "retrying"

    def row_values(self) -> dict[str, object]:
        """The outbox row's new values; the claim is given up either way."""
        values: dict[str, object] = {
            "last_error": self.failure.summary,
            "claimed_by": None,
            "claimed_at": None,
        }
        if self.final:
            values["status"] = OutboxStatus.DEAD_LETTERED
        else:
            values["next_attempt_at"] = self.retry_at
        return values


def failed_attempt(
    settings: Settings, attempt: int, failure: CmsFailure, answered_at: datetime
) -> FailedAttempt:
    """Dead-lettered when the failure is permanent or `attempt` was the last allowed; otherwise
    tried again after the backoff (never sooner than the CMS's Retry-After) from `answered_at`."""
    if failure.permanent or attempt >= settings.cms.max_attempts:
        return FailedAttempt(failure, final=True, retry_in=None, retry_at=None)
    delay = retry_delay(settings, attempt, failure.retry_after)
    return FailedAttempt(failure, final=False, retry_in=delay, retry_at=answered_at + delay)
