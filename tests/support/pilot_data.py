"""A constructed data set whose pilot figures are known by hand (tests/integration/
test_pilot_figures.py works each one out in its comments).

A school, January 2026 (UK), six requests issued 5 January 09:00 UTC, due 7 January:
  r1 opened +1h, sent +1d, accepted +3d, delivered +3.5d        (feedback 5)
  r2 opened +2h, sent +2d, returned, sent again +5d, accepted +6d  (feedback 4, then 2)
  r3 opened +3h, sent +4d (after its due date), rejected           (feedback 1)
  r4 opened +4h, "not this child"
  r5 never opened, answered outside the portal (withdrawn)
  r6 never opened, withdrawn
A police force: p1 issued 10 March 10:00 UTC, opened +30min, due 20 March, nothing sent; p2
issued 31 March 23:30 UTC, which is 1 April 00:30 in the UK (British Summer Time): April.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy.orm import Session

from portal.crypto.records import RecordCipher
from portal.lifecycle import ContributionStatus, RequestStatus
from portal.models import (
    Contribution,
    DelegationRequest,
    Feedback,
    OfflineAnswer,
    OfflineChannel,
    Organisation,
    OrganisationKind,
    RequestOpening,
    Review,
    Role,
    User,
)
from portal.models.contributions import ReviewDecision
from tests.factories import make_case, make_organisation, make_request, make_user

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
JANUARY = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
TODAY = date(2026, 4, 5)  # what the figures are asked on


@dataclass
class PilotData:
    school: Organisation
    police: Organisation
    worker: User


def build_pilot_data(session: Session, cipher: RecordCipher) -> PilotData:
    case, _child = make_case(session, cipher, "Amelia Hart")
    worker = make_user(session, case.team.organisation, Role.SOCIAL_WORKER, team=case.team)
    school = make_organisation(session, OrganisationKind.SCHOOL, "Figures Primary")
    police = make_organisation(session, OrganisationKind.POLICE, "Figures Police")
    t1, t2, t3 = (make_user(session, school, Role.PARTNER_CONTRIBUTOR) for _ in range(3))
    officer = make_user(session, police, Role.PARTNER_CONTRIBUTOR)

    def issue(
        partner: Organisation, at: datetime, due: date, status: RequestStatus
    ) -> DelegationRequest:
        found = make_request(session, cipher, case, partner, worker)
        found.issued_at, found.due_on, found.status = at, due, status
        return found

    def opened(found: DelegationRequest, after: timedelta, by: User) -> None:
        session.add(
            RequestOpening(
                request_id=found.id, opened_at=found.issued_at + after, opened_by_id=by.id
            )
        )

    def sent(
        found: DelegationRequest, version: int, after: timedelta, by: User, rating: int | None
    ) -> Contribution:
        version_ = Contribution(
            request_id=found.id,
            version=version,
            status=ContributionStatus.SUBMITTED,
            created_by_id=by.id,
            submitted_by_id=by.id,
            submitted_at=found.issued_at + after,
        )
        session.add(version_)
        session.flush()
        if rating is not None:
            session.add(
                Feedback(contribution_id=version_.id, organisation_id=school.id, rating=rating)
            )
        return version_

    def decided(version_: Contribution, decision: ReviewDecision, after: timedelta) -> None:
        at = version_.request.issued_at + after
        session.add(
            Review(
                contribution_id=version_.id, reviewer_id=worker.id, decision=decision, decided_at=at
            )
        )

    due = date(2026, 1, 7)
    r1 = issue(school, JANUARY, due, RequestStatus.DELIVERED)
    opened(r1, 1 * HOUR, t1)
    v = sent(r1, 1, 1 * DAY, t1, 5)
    decided(v, ReviewDecision.ACCEPTED, 3 * DAY)
    v.status, v.delivered_at = ContributionStatus.DELIVERED, JANUARY + 3.5 * DAY

    r2 = issue(school, JANUARY, due, RequestStatus.ACCEPTED)
    opened(r2, 2 * HOUR, t1)
    decided(sent(r2, 1, 2 * DAY, t1, 4), ReviewDecision.RETURNED, 3 * DAY)
    decided(sent(r2, 2, 5 * DAY, t1, 2), ReviewDecision.ACCEPTED, 6 * DAY)

    r3 = issue(school, JANUARY, due, RequestStatus.REJECTED)
    opened(r3, 3 * HOUR, t2)
    decided(sent(r3, 1, 4 * DAY, t3, 1), ReviewDecision.REJECTED, 5 * DAY)

    r4 = issue(school, JANUARY, due, RequestStatus.CHILD_NOT_KNOWN)
    opened(r4, 4 * HOUR, t2)

    r5 = issue(school, JANUARY, due, RequestStatus.REVOKED)
    session.add(
        OfflineAnswer(
            request_id=r5.id,
            channel=OfflineChannel.PHONE,
            reason="urgent",
            recorded_by_id=worker.id,
        )
    )
    issue(school, JANUARY, due, RequestStatus.REVOKED)

    p1 = issue(
        police, datetime(2026, 3, 10, 10, 0, tzinfo=UTC), date(2026, 3, 20), RequestStatus.ISSUED
    )
    opened(p1, timedelta(minutes=30), officer)
    issue(
        police, datetime(2026, 3, 31, 23, 30, tzinfo=UTC), date(2026, 4, 10), RequestStatus.ISSUED
    )
    session.flush()
    return PilotData(school=school, police=police, worker=worker)
