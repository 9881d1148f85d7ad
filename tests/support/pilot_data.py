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
from portal.pilot.figures import Filters, Grouping, Row, figures_by
from tests.factories import make_case, make_organisation, make_request, make_user

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
JANUARY = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
TODAY = date(2026, 4, 5)  # what the figures are asked on


def figures(session: Session, filters: Filters, grouping: Grouping, today: date) -> list[Row]:
    """The figures for each group of one grouping (the tests look at one at a time)."""
    return figures_by(session, filters, today, (grouping,))[grouping]


@dataclass
class PilotData:
    school: Organisation
    police: Organisation
    worker: User


class _Builder:
    """The steps the data set is made of: issue, open, send (with feedback), decide."""

    def __init__(self, session: Session, cipher: RecordCipher) -> None:
        self.session, self.cipher = session, cipher
        self.case, _child = make_case(session, cipher, "Amelia Hart")
        self.worker = make_user(
            session, self.case.team.organisation, Role.SOCIAL_WORKER, team=self.case.team
        )

    def issue(
        self, partner: Organisation, at: datetime, due: date, status: RequestStatus
    ) -> DelegationRequest:
        found = make_request(self.session, self.cipher, self.case, partner, self.worker)
        found.issued_at, found.due_on, found.status = at, due, status
        return found

    def opened(self, found: DelegationRequest, after: timedelta, by: User) -> None:
        self.session.add(
            RequestOpening(
                request_id=found.id, opened_at=found.issued_at + after, opened_by_id=by.id
            )
        )

    def sent(
        self, found: DelegationRequest, version: int, after: timedelta, by: User, rating: int | None
    ) -> Contribution:
        version_ = Contribution(
            request_id=found.id,
            version=version,
            status=ContributionStatus.SUBMITTED,
            created_by_id=by.id,
            submitted_by_id=by.id,
            submitted_at=found.issued_at + after,
        )
        self.session.add(version_)
        self.session.flush()
        if rating is not None:
            self.session.add(
                Feedback(
                    contribution_id=version_.id,
                    organisation_id=found.partner_organisation_id,
                    rating=rating,
                )
            )
        return version_

    def decided(self, version_: Contribution, decision: ReviewDecision, after: timedelta) -> None:
        self.session.add(
            Review(
                contribution_id=version_.id,
                reviewer_id=self.worker.id,
                decision=decision,
                decided_at=version_.request.issued_at + after,
            )
        )


def build_pilot_data(session: Session, cipher: RecordCipher) -> PilotData:
    make = _Builder(session, cipher)
    school = make_organisation(session, OrganisationKind.SCHOOL, "Figures Primary")
    police = make_organisation(session, OrganisationKind.POLICE, "Figures Police")
    _the_school_in_january(make, school)
    officer = make_user(session, police, Role.PARTNER_CONTRIBUTOR)
    p1 = make.issue(
        police, datetime(2026, 3, 10, 10, 0, tzinfo=UTC), date(2026, 3, 20), RequestStatus.ISSUED
    )
    make.opened(p1, timedelta(minutes=30), officer)
    make.issue(
        police, datetime(2026, 3, 31, 23, 30, tzinfo=UTC), date(2026, 4, 10), RequestStatus.ISSUED
    )
    session.flush()
    return PilotData(school=school, police=police, worker=make.worker)


def _the_school_in_january(make: _Builder, school: Organisation) -> None:
    t1, t2, t3 = (make_user(make.session, school, Role.PARTNER_CONTRIBUTOR) for _ in range(3))
    due = date(2026, 1, 7)
    r1 = make.issue(school, JANUARY, due, RequestStatus.DELIVERED)
    make.opened(r1, 1 * HOUR, t1)
    v = make.sent(r1, 1, 1 * DAY, t1, 5)
    make.decided(v, ReviewDecision.ACCEPTED, 3 * DAY)
    v.status, v.delivered_at = ContributionStatus.DELIVERED, JANUARY + 3.5 * DAY

    r2 = make.issue(school, JANUARY, due, RequestStatus.ACCEPTED)
    make.opened(r2, 2 * HOUR, t1)
    make.decided(make.sent(r2, 1, 2 * DAY, t1, 4), ReviewDecision.RETURNED, 3 * DAY)
    make.decided(make.sent(r2, 2, 5 * DAY, t1, 2), ReviewDecision.ACCEPTED, 6 * DAY)

    r3 = make.issue(school, JANUARY, due, RequestStatus.REJECTED)
    make.opened(r3, 3 * HOUR, t2)
    make.decided(make.sent(r3, 1, 4 * DAY, t3, 1), ReviewDecision.REJECTED, 5 * DAY)

    r4 = make.issue(school, JANUARY, due, RequestStatus.CHILD_NOT_KNOWN)
    make.opened(r4, 4 * HOUR, t2)

    r5 = make.issue(school, JANUARY, due, RequestStatus.REVOKED)
    make.session.add(
        OfflineAnswer(
            request_id=r5.id,
            channel=OfflineChannel.PHONE,
            reason="urgent",
            recorded_by_id=make.worker.id,
        )
    )
    make.issue(school, JANUARY, due, RequestStatus.REVOKED)
