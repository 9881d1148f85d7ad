"""The pure steps of a review decision (portal/contributions/services.py decide), without a
database: which versions can be decided on, what each decision moves, and the outbox row an
acceptance writes."""

from __future__ import annotations

import uuid
from datetime import date

import pytest

from portal.contributions.services import (
    ContributionRefused,
    apply_decision,
    check_decidable,
    outbox_message_for,
)
from portal.lifecycle import ContributionStatus, RequestStatus
from portal.models import Contribution, DelegationRequest, ReviewDecision

DUE = date(2026, 12, 1)
LATER = date(2026, 12, 15)


def submitted() -> tuple[DelegationRequest, Contribution]:
    request = DelegationRequest(status=RequestStatus.SUBMITTED, due_on=DUE)
    contribution = Contribution(
        id=uuid.uuid4(), request=request, version=2, status=ContributionStatus.SUBMITTED
    )
    return request, contribution


def test_a_submitted_version_of_a_request_awaiting_review_can_be_decided() -> None:
    check_decidable(*submitted())


@pytest.mark.parametrize(
    ("request_status", "contribution_status", "message"),
    [
        (RequestStatus.SUBMITTED, ContributionStatus.ACCEPTED, "already been made"),
        (RequestStatus.REVOKED, ContributionStatus.SUBMITTED, "withdrawn or closed"),
    ],
)
def test_anything_else_is_refused(
    request_status: RequestStatus, contribution_status: ContributionStatus, message: str
) -> None:
    request, contribution = submitted()
    request.status, contribution.status = request_status, contribution_status
    with pytest.raises(ContributionRefused, match=message):
        check_decidable(request, contribution)


@pytest.mark.parametrize(
    ("decision", "contribution_status", "request_status", "due_on", "closed"),
    [
        (ReviewDecision.ACCEPTED, ContributionStatus.ACCEPTED, RequestStatus.ACCEPTED, DUE, False),
        (
            ReviewDecision.RETURNED,
            ContributionStatus.RETURNED,
            RequestStatus.RETURNED,
            LATER,
            False,
        ),
        (ReviewDecision.REJECTED, ContributionStatus.REJECTED, RequestStatus.REJECTED, DUE, True),
    ],
)
def test_each_decision_moves_the_version_and_its_request(
    decision: ReviewDecision,
    contribution_status: ContributionStatus,
    request_status: RequestStatus,
    due_on: date,
    closed: bool,
) -> None:
    request, contribution = submitted()
    apply_decision(request, contribution, decision, LATER)
    assert (contribution.status, request.status) == (contribution_status, request_status)
    assert request.due_on == due_on  # only a return takes a new due date
    assert (request.closed_at is not None) is closed


def test_a_return_without_a_new_due_date_keeps_the_old_one() -> None:
    request, contribution = submitted()
    apply_decision(request, contribution, ReviewDecision.RETURNED, None)
    assert request.due_on == DUE


def test_an_acceptance_is_delivered_under_a_key_naming_the_version() -> None:
    _, contribution = submitted()
    message = outbox_message_for(contribution)
    assert message.contribution_id == contribution.id
    assert message.idempotency_key == f"contribution-{contribution.id}-v2"
