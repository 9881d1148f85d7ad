"""The demo's pilot history: six months of closed requests to the live partners that have
people, with openings, answers, reviews, deliveries, answers outside the portal and feedback,
so that the figures page has something to show. Made up, repeatable (a seeded random), and
past retention: the answers themselves were never kept (`content_shredded_at` is set), only
what the figures count. Called once by the demo seed (portal/demo/seed.py)."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.crypto.records import RecordCipher
from portal.lifecycle import ContributionStatus, RequestStatus
from portal.models import (
    Case,
    Contribution,
    DelegationRequest,
    Feedback,
    OfflineAnswer,
    OfflineChannel,
    Organisation,
    OrganisationKind,
    OrganisationStage,
    RequestOpening,
    Review,
    User,
)
from portal.models.contributions import ReviewDecision
from portal.pilot.recording import OFFLINE_REASONS
from portal.requests.services import new_reference

MONTHS = 6
PURPOSE = "Demo history for the pilot's figures: no child's information."
_S = RequestStatus


def add_pilot_history(
    session: Session, cipher: RecordCipher, now: datetime | None = None, seed: int = 19
) -> int:
    """Add the history; returns how many requests it added."""
    now = now or datetime.now(UTC)
    chance = random.Random(seed)  # noqa: S311 - made-up demo data, not security
    cases = list(
        session.scalars(
            sa.select(Case)
            .where(Case.allocated_worker_id.is_not(None))
            .order_by(Case.cms_reference)
        )
    )
    if not cases:
        return 0
    added = 0
    for partner, people, template in _partners(session):
        for _ in range(chance.randint(5, 9) * MONTHS):
            # Closed past its closing date (30 days on): in nobody's inbox.
            issued_at = now - timedelta(days=chance.uniform(35, 30 * MONTHS))
            found = _request(session, cipher, chance.choice(cases), partner, template, issued_at)
            _history(session, chance, found, people, now)
            added += 1
    session.flush()
    return added


# The demo's form templates for each kind of partner (config/forms), as id and version.
TEMPLATES = {
    OrganisationKind.SCHOOL: ("school-contribution", 1),
    OrganisationKind.POLICE: ("police-information", 1),
    OrganisationKind.HEALTH: ("health-information", 1),
}


def _partners(session: Session) -> list[tuple[Organisation, list[User], tuple[str, int]]]:
    found = []
    for partner in session.scalars(
        sa.select(Organisation)
        .where(Organisation.kind != OrganisationKind.COUNCIL)
        .where(Organisation.stage == OrganisationStage.LIVE)
        .order_by(Organisation.name)
    ):
        people = list(
            session.scalars(
                sa.select(User).where(User.organisation_id == partner.id).order_by(User.subject)
            )
        )
        template = TEMPLATES.get(partner.kind)
        if people and template is not None:
            found.append((partner, people, template))
    return found


def _request(
    session: Session,
    cipher: RecordCipher,
    case: Case,
    partner: Organisation,
    template: tuple[str, int],
    issued_at: datetime,
) -> DelegationRequest:
    found = DelegationRequest(
        id=uuid.uuid4(),
        reference=new_reference(),
        case=case,
        partner_organisation=partner,
        requested_by_id=case.allocated_worker_id,
        form_template=template[0],
        form_template_version=template[1],
        lawful_basis="children-act-1989-s17",
        status=_S.EXPIRED,
        due_on=(issued_at + timedelta(days=10)).date(),
        expires_at=issued_at + timedelta(days=30),
        issued_at=issued_at,
        closed_at=issued_at + timedelta(days=30),
        content_shredded_at=issued_at + timedelta(days=31),
    )
    found.children = list(case.children[:1])
    cipher.seal_text(found, "purpose_enc", PURPOSE)
    session.add(found)
    session.flush()  # the rows below refer to it without a relationship to order them
    return found


def _history(
    session: Session,
    chance: random.Random,
    found: DelegationRequest,
    people: list[User],
    now: datetime,
) -> None:
    """What became of one request, step by step, with made-up but plausible times."""
    worker = found.requested_by_id
    if chance.random() < 0.06:
        found.status = _S.REVOKED
        session.add(
            OfflineAnswer(
                request_id=found.id,
                channel=chance.choice(list(OfflineChannel)),
                reason=chance.choice(list(OFFLINE_REASONS)),
                recorded_by_id=worker,
                recorded_at=found.issued_at + timedelta(days=2),
            )
        )
        return
    if chance.random() < 0.08:
        return  # never opened: it lapsed
    opened_at = found.issued_at + timedelta(hours=chance.lognormvariate(2.0, 1.0))
    session.add(
        RequestOpening(
            request_id=found.id, opened_at=opened_at, opened_by_id=chance.choice(people).id
        )
    )
    outcome = chance.random()
    if outcome < 0.05:
        found.status = _S.CHILD_NOT_KNOWN
    elif outcome < 0.12:
        found.status = _S.REVOKED
    elif outcome < 0.2:
        return  # opened, never answered: it lapsed
    else:
        _answers(session, chance, found, people, opened_at)


def _answers(
    session: Session,
    chance: random.Random,
    found: DelegationRequest,
    people: list[User],
    opened_at: datetime,
) -> None:
    sent_at = opened_at + timedelta(hours=chance.lognormvariate(3.5, 0.8))
    for version in (1, 2, 3):
        contribution = Contribution(
            id=uuid.uuid4(),
            request_id=found.id,
            version=version,
            status=ContributionStatus.SUBMITTED,
            created_by_id=chance.choice(people).id,
            submitted_by_id=chance.choice(people).id,
            submitted_at=sent_at,
        )
        session.add(contribution)
        session.flush()
        if chance.random() < 0.45:
            session.add(
                Feedback(
                    contribution_id=contribution.id,
                    organisation_id=found.partner_organisation_id,
                    rating=chance.choices((5, 4, 3, 2, 1), weights=(40, 35, 12, 8, 5))[0],
                    given_at=sent_at + timedelta(minutes=2),
                )
            )
        decided_at = sent_at + timedelta(hours=chance.lognormvariate(3.0, 0.9))
        decision = _decision(chance, version)
        session.add(
            Review(
                contribution_id=contribution.id,
                reviewer_id=found.requested_by_id,
                decision=decision,
                decided_at=decided_at,
            )
        )
        if decision is not ReviewDecision.RETURNED:
            _decided(chance, found, contribution, decision, decided_at)
            return
        contribution.status = ContributionStatus.RETURNED
        sent_at = decided_at + timedelta(hours=chance.lognormvariate(3.0, 0.8))


def _decision(chance: random.Random, version: int) -> ReviewDecision:
    roll = chance.random()
    if version < 3 and roll < 0.2:
        return ReviewDecision.RETURNED
    return ReviewDecision.REJECTED if roll > 0.95 else ReviewDecision.ACCEPTED


def _decided(
    chance: random.Random,
    found: DelegationRequest,
    contribution: Contribution,
    decision: ReviewDecision,
    decided_at: datetime,
) -> None:
    found.closed_at = decided_at
    if decision is ReviewDecision.REJECTED:
        found.status, contribution.status = _S.REJECTED, ContributionStatus.REJECTED
        return
    found.status, contribution.status = _S.DELIVERED, ContributionStatus.DELIVERED
    contribution.delivered_at = decided_at + timedelta(minutes=chance.uniform(1, 30))
    contribution.cms_record_id = f"DEMO-{found.reference}-{contribution.version}"
