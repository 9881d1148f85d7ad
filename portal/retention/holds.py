"""Legal holds: an information-governance officer (or an operator, from the command line)
stops the retention job shredding one request's content, and later releases it. Each change
is audited in its own transaction; the hold stores a reason code, never free text."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.audit import Actor, AuditAction, record_event
from portal.lifecycle import RequestStatus
from portal.models import DelegationRequest, User

# What the legal holds page names, so that its route module never imports the data model.
from portal.models.requests import HoldReason as HoldReason
from portal.models.requests import LegalHold

REFERENCE_PATTERN = re.compile(r"^DR-[0-9A-Z]{8}$")


class HoldRefused(Exception):
    """The hold cannot be placed or released; the message is safe to show and says why."""


@dataclass(frozen=True)
class HeldRequest:
    reference: str
    case_reference: str
    status: RequestStatus
    reason: HoldReason
    placed_at: datetime
    placed_by: str | None  # a person's name; None when an operator placed it


def normalise_reference(text: str) -> str:
    return text.strip().upper()


def place_hold(
    session: Session, reference: str, reason: HoldReason, actor: Actor, placed_by: User | None
) -> LegalHold:
    request = _locked(session, reference)
    if request.content_shredded_at is not None:
        raise HoldRefused(
            f"The content of {request.reference} was already deleted on "
            f"{request.content_shredded_at:%-d %B %Y} under the retention policy: there is "
            "nothing left to hold"
        )
    if session.get(LegalHold, request.id) is not None:
        raise HoldRefused(f"{request.reference} is already on legal hold")
    hold = LegalHold(
        request_id=request.id, reason=reason, placed_by_id=placed_by.id if placed_by else None
    )
    session.add(hold)
    session.flush()
    record_event(
        session,
        AuditAction.LEGAL_HOLD_PLACED,
        actor=actor,
        object_type="delegation_request",
        object_id=request.reference,
        case_reference=request.case.cms_reference,
        details={"reason": reason.value},
    )
    return hold


def release_hold(session: Session, reference: str, actor: Actor) -> None:
    request = _locked(session, reference)
    hold = session.get(LegalHold, request.id)
    if hold is None:
        raise HoldRefused(f"{request.reference} is not on legal hold")
    reason, placed_at = hold.reason, hold.placed_at
    session.delete(hold)
    session.flush()
    record_event(
        session,
        AuditAction.LEGAL_HOLD_RELEASED,
        actor=actor,
        object_type="delegation_request",
        object_id=request.reference,
        case_reference=request.case.cms_reference,
        details={"reason": reason.value, "held_since": placed_at.isoformat()},
    )


def held_requests(session: Session) -> list[HeldRequest]:
    rows = session.execute(
        sa.select(LegalHold, DelegationRequest, User.display_name)
        .join(DelegationRequest, LegalHold.request_id == DelegationRequest.id)
        .outerjoin(User, LegalHold.placed_by_id == User.id)
        .order_by(LegalHold.placed_at.desc())
    ).all()
    return [
        HeldRequest(
            reference=request.reference,
            case_reference=request.case.cms_reference,
            status=request.status,
            reason=hold.reason,
            placed_at=hold.placed_at,
            placed_by=name,
        )
        for hold, request, name in rows
    ]


def _locked(session: Session, reference: str) -> DelegationRequest:
    """The request, locked against the retention job until this transaction ends, so a hold
    and a shredding of the same request never cross."""
    reference = normalise_reference(reference)
    request = session.scalar(
        sa.select(DelegationRequest)
        .where(DelegationRequest.reference == reference)
        .with_for_update(of=DelegationRequest)
        .execution_options(populate_existing=True)
    )
    if request is None:
        raise HoldRefused("There is no request with that reference: check it and try again")
    return request
