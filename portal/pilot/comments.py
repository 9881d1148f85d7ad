"""The partners' comments on the service ("How could we improve this service?"), opened for
the partner engagement officer: for the requests the figures' filters choose, with only the
organisation, the month given and the rating beside each (no request, no person), and the
reading audited (FEEDBACK_READ) in the page's transaction."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.audit import Actor, AuditAction, record_event
from portal.crypto.records import RecordCipher
from portal.models import Contribution, DelegationRequest, Feedback, Organisation, Satisfaction
from portal.pilot.measures import Filters
from portal.pilot.recording import SATISFACTION_LABELS
from portal.uk_time import uk_clock


@dataclass(frozen=True)
class Comment:
    organisation: str
    month: str  # the UK month it was given, "March 2026"
    rating: str
    text: str


def _chosen(filters: Filters) -> list[sa.ColumnElement[bool]]:
    r = DelegationRequest
    chosen = [r.issued_at >= filters.period.starts_at, r.issued_at < filters.period.ends_at]
    if filters.kind is not None:
        chosen.append(Organisation.kind == filters.kind)
    if filters.organisation_id is not None:
        chosen.append(r.partner_organisation_id == filters.organisation_id)
    return chosen


def read_comments(
    session: Session, cipher: RecordCipher, actor: Actor, filters: Filters
) -> list[Comment]:
    """The comments on versions of the requests in the filter (shredded ones are gone with
    their request's content), by organisation and then oldest first; audited."""
    found = session.execute(
        sa.select(Feedback, Organisation.name)
        .join(Contribution, Contribution.id == Feedback.contribution_id)
        .join(DelegationRequest, DelegationRequest.id == Contribution.request_id)
        .join(Organisation, Organisation.id == Feedback.organisation_id)
        .where(Feedback.comment_enc.is_not(None), *_chosen(filters))
        .order_by(Organisation.name, Feedback.given_at)
    ).all()
    comments = []
    for feedback, name in found:
        if feedback.data_key is None or feedback.data_key.wrapped_key is None:
            continue  # shredded with its request's content
        comments.append(
            Comment(
                organisation=name,
                month=uk_clock(feedback.given_at, "%B %Y"),
                rating=SATISFACTION_LABELS[Satisfaction(feedback.rating)],
                text=cipher.open_text(feedback, "comment_enc") or "",
            )
        )
    record_event(
        session,
        AuditAction.FEEDBACK_READ,
        actor=actor,
        details={
            "first_month": str(filters.period.first),
            "last_month": str(filters.period.last),
            "kind": filters.kind.value if filters.kind else None,
            "organisation": str(filters.organisation_id) if filters.organisation_id else None,
            "comments": len(comments),
        },
    )
    return comments
