"""Which organisations receive new requests: live ones whose information-sharing agreement is
before its review date. A paused organisation, or one whose agreement is past review, keeps
what it already has and receives nothing new."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.models import Organisation, OrganisationKind, OrganisationStage, OrganisationStatus
from portal.models.onboarding import SharingAgreement


def current_agreement(session: Session, organisation_id: object) -> SharingAgreement | None:
    """The organisation's agreement in force or last in force: the newest recorded."""
    return session.scalar(
        sa.select(SharingAgreement)
        .where(SharingAgreement.organisation_id == organisation_id)
        .order_by(SharingAgreement.recorded_at.desc(), SharingAgreement.id)
        .limit(1)
    )


def newest_agreements() -> sa.Subquery:
    """Each organisation's newest agreement (organisation_id, review_on), for joins."""
    ranked = sa.select(
        SharingAgreement.organisation_id,
        SharingAgreement.review_on,
        sa.func.row_number()
        .over(
            partition_by=SharingAgreement.organisation_id,
            order_by=(SharingAgreement.recorded_at.desc(), SharingAgreement.id),
        )
        .label("newest"),
    ).subquery()
    return (
        sa.select(ranked.c.organisation_id, ranked.c.review_on)
        .where(ranked.c.newest == 1)
        .subquery("newest_agreements")
    )


def accepting_requests(session: Session, today: date) -> list[Organisation]:
    """Partners a request may go to today, by name."""
    agreements = newest_agreements()
    return list(
        session.scalars(
            sa.select(Organisation)
            .join(agreements, agreements.c.organisation_id == Organisation.id)
            .where(
                Organisation.kind != OrganisationKind.COUNCIL,
                Organisation.status == OrganisationStatus.ACTIVE,
                Organisation.stage == OrganisationStage.LIVE,
                agreements.c.review_on >= today,
            )
            .order_by(Organisation.name)
        )
    )
