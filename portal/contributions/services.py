"""Drafting, submitting and reviewing contributions; each change audited in the caller's
transaction. A submitted version never changes: returning it for more information starts a
new version, prefilled from the last."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal import notifications, races
from portal.audit import Actor, AuditAction, record_event
from portal.audit.record import DetailValue, NewEvent, record_events
from portal.audit.signing import CheckpointSigner
from portal.contributions import receipts
from portal.crypto.records import RecordCipher
from portal.forms_catalogue import FormTemplate, QuestionType, answer_keys, validate_answers
from portal.lifecycle import (
    CONTRIBUTION_LIFECYCLE,
    REQUEST_LIFECYCLE,
    ContributionStatus,
    RequestStatus,
)
from portal.models import (
    Child,
    ChildConfirmation,
    ChildKnown,
    Contribution,
    DelegationRequest,
    OutboxMessage,
    Review,
    ReviewDecision,
    ScanStatus,
    User,
)

ANSWERABLE = frozenset({RequestStatus.ISSUED, RequestStatus.IN_PROGRESS, RequestStatus.RETURNED})


class ContributionRefused(Exception):
    """The contribution cannot be changed as asked; the message says why, for the page."""


@contextmanager
def one_at_a_time(session: Session, message: str) -> Iterator[None]:
    """Two tabs or two reviewers at once: the second one's write fails on the draft's or the
    request's row version, or on the one review a version may have, and is refused with
    `message` (portal.races)."""
    with races.one_at_a_time(session, ContributionRefused(message)):
        yield


def versions(session: Session, request: DelegationRequest) -> list[Contribution]:
    return list(
        session.scalars(
            sa.select(Contribution)
            .where(Contribution.request_id == request.id)
            .order_by(Contribution.version)
        )
    )


def review_of(session: Session, contribution: Contribution) -> Review | None:
    """The council's decision on a sent version, once it decided."""
    return session.scalar(sa.select(Review).where(Review.contribution_id == contribution.id))


def draft_of(session: Session, request: DelegationRequest) -> Contribution | None:
    return next(
        (c for c in versions(session, request) if c.status == ContributionStatus.DRAFT), None
    )


def confirmations_of(
    session: Session, request: DelegationRequest
) -> dict[uuid.UUID, ChildConfirmation]:
    """The partner's confirmation of each child it has confirmed, by child id."""
    found = session.scalars(
        sa.select(ChildConfirmation).where(ChildConfirmation.request_id == request.id)
    )
    return {confirmation.child_id: confirmation for confirmation in found}


def confirmations_fixed(session: Session, request: DelegationRequest) -> bool:
    """Whether the confirmations can no longer change: once a version is sent they are part
    of what was sent; and a closed request changes no more."""
    if request.status not in ANSWERABLE:
        return True
    return fixed_by(request, versions(session, request))


def fixed_by(request: DelegationRequest, every: list[Contribution]) -> bool:
    """`confirmations_fixed`, from the request's versions already read."""
    return request.status not in ANSWERABLE or any(c.submitted_at is not None for c in every)


def was_sent(request: DelegationRequest, every: list[Contribution]) -> bool:
    """Whether the partner has sent anything: a version, or the request closed because it
    knows none of the children. Only then is what it said about them the council's to see."""
    return request.status is RequestStatus.CHILD_NOT_KNOWN or any(
        c.submitted_at is not None for c in every
    )


def needs_confirmation(session: Session, request: DelegationRequest) -> bool:
    """Whether the partner must say which children it knows before answering: some child on
    the request has no confirmation yet. A request answered before confirmations existed (a
    version sent, none confirmed) goes on as it was answered."""
    return still_to_confirm(
        request, confirmations_of(session, request), confirmations_fixed(session, request)
    )


def still_to_confirm(
    request: DelegationRequest, confirmed: dict[uuid.UUID, ChildConfirmation], fixed: bool
) -> bool:
    """`needs_confirmation`, from the confirmations and whether they are fixed, already read."""
    if not confirmed and fixed:
        return False
    return any(child.id not in confirmed for child in request.children)


def children_answered_for(session: Session, request: DelegationRequest) -> list[Child]:
    """The children the partner answers about, in the family's order: those it confirmed it
    holds a record for; every child of a request answered before confirmations existed."""
    confirmed = confirmations_of(session, request)
    family = sorted(request.children, key=lambda child: child.position)
    if not confirmed:
        return family if confirmations_fixed(session, request) else []
    return [
        child
        for child in family
        if child.id in confirmed and confirmed[child.id].answer is ChildKnown.KNOWN
    ]


def answers_of(cipher: RecordCipher, contribution: Contribution | None) -> dict[str, Any]:
    if contribution is None:
        return {}
    return dict(cipher.open_json(contribution, "answers_enc") or {})


def working_answers(
    session: Session, cipher: RecordCipher, request: DelegationRequest
) -> dict[str, Any]:
    """What the partner sees on the question pages: the draft, or after a return, what they
    sent last (the next draft starts from it)."""
    every = versions(session, request)
    draft = next((c for c in every if c.status == ContributionStatus.DRAFT), None)
    if draft is not None:
        return answers_of(cipher, draft)
    return answers_of(cipher, every[-1]) if every else {}


def ensure_draft(
    session: Session, cipher: RecordCipher, request: DelegationRequest, partner: User
) -> Contribution:
    """The draft to add to, started now if there is none (an upload can come first)."""
    if request.status not in ANSWERABLE:
        raise ContributionRefused("This request can no longer be answered")
    return draft_of(session, request) or _start_draft(session, cipher, request, partner)


def missing_files(template: FormTemplate, draft: Contribution, children: list[str]) -> list[str]:
    """Answer keys of required file questions with no accepted file."""
    held = {
        attachment.answer_key
        for attachment in draft.attachments
        if attachment.scan_status != ScanStatus.REFUSED
    }
    return [
        key
        for question in template.questions
        if question.type is QuestionType.FILE and question.required
        for key in answer_keys(question, children)
        if key not in held
    ]


def save_section(
    session: Session,
    cipher: RecordCipher,
    request: DelegationRequest,
    partner: User,
    actor: Actor,
    section_id: str,
    answers: dict[str, Any],
) -> Contribution:
    """Merge one section's answers into the draft, starting the draft if there is none."""
    draft = ensure_draft(session, cipher, request, partner)
    merged = {**answers_of(cipher, draft), **answers}
    cipher.seal_json(draft, "answers_enc", {k: v for k, v in merged.items() if v not in ("", [])})
    draft.updated_at = datetime.now(UTC)
    session.flush()
    record_event(
        session,
        AuditAction.CONTRIBUTION_DRAFT_SAVED,
        actor=actor,
        object_type="contribution",
        object_id=draft.id,
        case_reference=request.case.cms_reference,
        details={"request": request.reference, "version": draft.version, "section": section_id},
    )
    return draft


def _start_draft(
    session: Session, cipher: RecordCipher, request: DelegationRequest, partner: User
) -> Contribution:
    earlier = versions(session, request)
    draft = Contribution(
        id=uuid.uuid4(),
        request_id=request.id,
        request=request,
        version=(earlier[-1].version + 1) if earlier else 1,
        status=ContributionStatus.DRAFT,
        created_by_id=partner.id,
    )
    # After a return, the partner starts from what they sent.
    cipher.seal_json(draft, "answers_enc", answers_of(cipher, earlier[-1]) if earlier else {})
    session.add(draft)
    REQUEST_LIFECYCLE.move(request, RequestStatus.IN_PROGRESS)
    return draft


def submit(
    session: Session,
    cipher: RecordCipher,
    signer: CheckpointSigner,
    request: DelegationRequest,
    template: FormTemplate,
    partner: User,
    actor: Actor,
) -> Contribution | dict[str, str]:
    """Submit the draft: the errors to show, or the submitted (now immutable) version."""
    draft = draft_of(session, request)
    if draft is None or request.status != RequestStatus.IN_PROGRESS:
        raise ContributionRefused("There is nothing to send: it may have been sent already")
    if needs_confirmation(session, request):
        raise ContributionRefused("Confirm which children you know before sending answers")
    answers = answers_of(cipher, draft)
    # Only the children the partner confirmed it knows: an answer about any other is refused.
    children = [str(child.id) for child in children_answered_for(session, request)]
    errors = validate_answers(template, answers, children, final=True)
    for key in missing_files(template, draft, children):
        errors[key] = "Add the document this question asks for"
    if errors:
        return errors
    CONTRIBUTION_LIFECYCLE.move(draft, ContributionStatus.SUBMITTED)
    REQUEST_LIFECYCLE.move(request, RequestStatus.SUBMITTED)
    draft.submitted_at = datetime.now(UTC)
    draft.submitted_by_id = partner.id
    receipts.sign(signer, request, draft, answers, confirmations_of(session, request).values())
    session.flush()  # two tabs at once: the second fails here on the row version
    said: dict[str, DetailValue] = {
        "request": request.reference,
        "version": draft.version,
        "receipt_sha256": (draft.receipt_digest or b"").hex(),
    }
    record_events(
        session,
        [
            NewEvent(
                AuditAction.CONTRIBUTION_SUBMITTED,
                actor=actor,
                object_type="contribution",
                object_id=draft.id,
                case_reference=request.case.cms_reference,
                details=said,
            ),
            # What the partner may be given as a leaf of the log: only what its receipt says,
            # with no case reference (the council's CMS reference is not the partner's).
            NewEvent(
                AuditAction.RECEIPT_LOGGED,
                actor=actor,
                object_type="contribution",
                object_id=draft.id,
                details=said,
            ),
        ],
    )
    notifications.notify_worker_of_submission(session, request)
    return draft


def decide(
    session: Session,
    cipher: RecordCipher,
    request: DelegationRequest,
    contribution: Contribution,
    reviewer: User,
    actor: Actor,
    decision: ReviewDecision,
    *,
    reason: str | None = None,
    sections: list[str] | None = None,
    new_due_on: date | None = None,
) -> Review:
    check_decidable(request, contribution)
    apply_decision(request, contribution, decision, new_due_on)
    review = Review(
        id=uuid.uuid4(),
        contribution_id=contribution.id,
        reviewer_id=reviewer.id,
        decision=decision,
        sections_to_revisit=list(sections or []),
        new_due_on=new_due_on,
    )
    cipher.seal_text(review, "reason_enc", reason or None)
    session.add(review)
    if decision == ReviewDecision.ACCEPTED:
        # The connector's outbox row, in the same transaction as the decision.
        session.add(outbox_message_for(contribution))
    session.flush()  # two reviewers at once: the second fails here (one review per version)
    record_event(
        session,
        _DECISION_EVENTS[decision],
        actor=actor,
        object_type="contribution",
        object_id=contribution.id,
        case_reference=request.case.cms_reference,
        details={
            "request": request.reference,
            "version": contribution.version,
            "sections": ",".join(sections or []) or None,
            "new_due_on": new_due_on.isoformat() if new_due_on else None,
        },
    )
    _notify_partner_of_decision(session, request, contribution, decision)
    return review


# What each decision moves the contribution and its request to, and the event it records.
_DECISION_MOVES = {
    ReviewDecision.ACCEPTED: (ContributionStatus.ACCEPTED, RequestStatus.ACCEPTED),
    ReviewDecision.RETURNED: (ContributionStatus.RETURNED, RequestStatus.RETURNED),
    ReviewDecision.REJECTED: (ContributionStatus.REJECTED, RequestStatus.REJECTED),
}
_DECISION_EVENTS = {
    ReviewDecision.ACCEPTED: AuditAction.CONTRIBUTION_ACCEPTED,
    ReviewDecision.RETURNED: AuditAction.CONTRIBUTION_RETURNED,
    ReviewDecision.REJECTED: AuditAction.CONTRIBUTION_REJECTED,
}


def check_decidable(request: DelegationRequest, contribution: Contribution) -> None:
    """Only a submitted version of a request still awaiting review can be decided on."""
    if contribution.status != ContributionStatus.SUBMITTED:
        raise ContributionRefused("A decision has already been made on this version")
    if request.status != RequestStatus.SUBMITTED:
        raise ContributionRefused("This request was withdrawn or closed: no decision is needed")


def apply_decision(
    request: DelegationRequest,
    contribution: Contribution,
    decision: ReviewDecision,
    new_due_on: date | None,
) -> None:
    """Move the version and its request on; a return may set a new due date, a rejection
    closes the request."""
    contribution_status, request_status = _DECISION_MOVES[decision]
    CONTRIBUTION_LIFECYCLE.move(contribution, contribution_status)
    REQUEST_LIFECYCLE.move(request, request_status)
    if decision == ReviewDecision.RETURNED and new_due_on is not None:
        request.due_on = new_due_on
    if decision == ReviewDecision.REJECTED:
        request.closed_at = datetime.now(UTC)


def outbox_message_for(contribution: Contribution) -> OutboxMessage:
    """The accepted version's delivery, under a key the CMS keeps it to one record by."""
    return OutboxMessage(
        contribution_id=contribution.id,
        idempotency_key=f"contribution-{contribution.id}-v{contribution.version}",
    )


def _notify_partner_of_decision(
    session: Session,
    request: DelegationRequest,
    contribution: Contribution,
    decision: ReviewDecision,
) -> None:
    submitter = contribution.submitted_by_id
    if submitter is None:
        return
    if decision == ReviewDecision.RETURNED:
        notifications.notify_partner_returned(session, request, submitter)
        notifications.reschedule_reminders(session, request)
    elif decision == ReviewDecision.ACCEPTED:
        notifications.notify_partner_accepted(session, request, submitter)
