"""Information-sharing agreements: recording a new one (the newest recorded is in force until
its review date) and reading an organisation's history of them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.audit import Actor, AuditAction, record_event
from portal.models import Organisation, SharingAgreement, User


@dataclass(frozen=True)
class AgreementTerms:
    name: str
    version: str
    signed_on: date
    signatory_roles: str
    review_on: date


def problems(terms: AgreementTerms, today: date) -> dict[str, str]:
    """Why the dates cannot be right, by field: the form shows each beside its field."""
    found = {}
    if terms.signed_on > today:
        found["signed_on"] = "The date signed must be today or in the past"
    if terms.review_on <= terms.signed_on:
        found["review_on"] = "The review date must be after the date signed"
    elif terms.review_on < today:
        found["review_on"] = "The review date must be today or in the future"
    return found


def record_agreement(
    session: Session,
    organisation: Organisation,
    terms: AgreementTerms,
    *,
    recorder: User,
    actor: Actor,
) -> SharingAgreement:
    """Record a new agreement (in force from now), audited. Its review warnings start afresh."""
    agreement = SharingAgreement(
        organisation_id=organisation.id,
        name=terms.name,
        version=terms.version,
        signed_on=terms.signed_on,
        signatory_roles=terms.signatory_roles,
        review_on=terms.review_on,
        recorded_by_id=recorder.id,
    )
    session.add(agreement)
    organisation.agreement_warned_days = None
    session.flush()
    record_event(
        session,
        AuditAction.SHARING_AGREEMENT_RECORDED,
        actor=actor,
        object_type="organisation",
        object_id=organisation.id,
        details={
            "agreement_id": str(agreement.id),
            "signed_on": terms.signed_on.isoformat(),
            "review_on": terms.review_on.isoformat(),
        },
    )
    return agreement


def history(session: Session, organisation: Organisation) -> list[SharingAgreement]:
    """Every agreement recorded for the organisation, newest (the one in force) first."""
    return list(
        session.scalars(
            sa.select(SharingAgreement)
            .where(SharingAgreement.organisation_id == organisation.id)
            .order_by(SharingAgreement.recorded_at.desc(), SharingAgreement.id)
        )
    )
