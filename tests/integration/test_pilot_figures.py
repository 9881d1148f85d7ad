"""Every pilot figure on a constructed data set whose answers were worked out by hand
(tests/support/pilot_data.py), on PostgreSQL and on SQLite (the demo)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime

import pytest
from sqlalchemy.orm import Session

from portal.crypto import FileKeyring
from portal.crypto.records import RecordCipher
from portal.lifecycle import ContributionStatus, RequestStatus
from portal.models import (
    ChildConfirmation,
    ChildKnown,
    Contribution,
    DelegationRequest,
    OfflineAnswer,
    OfflineChannel,
    OrganisationKind,
    Role,
)
from portal.pilot.figures import Filters, Grouping, Row, Step, Times, figures_by
from portal.pilot.periods import Month, Period
from tests.conftest import both_backends
from tests.factories import make_case, make_request, make_user
from tests.support.pilot_data import DAY, HOUR, TODAY, PilotData, build_pilot_data, figures

JANUARY_TO_APRIL = Period(Month(2026, 1), Month(2026, 4))


@pytest.fixture
def data(db_session: Session, keyring: FileKeyring) -> PilotData:
    return build_pilot_data(db_session, RecordCipher(keyring, db_session))


def _rows(session: Session, grouping: Grouping, **filters: object) -> dict[str, Row]:
    found = figures(session, Filters(JANUARY_TO_APRIL, **filters), grouping, TODAY)  # type: ignore[arg-type]
    return {row.key: row for row in found}


def _close(times: Times, measured: int, median: float, ninetieth: float) -> None:
    assert times.measured == measured
    assert times.median == pytest.approx(median, abs=0.01)
    assert times.ninetieth == pytest.approx(ninetieth, abs=0.01)


@both_backends
def test_the_school_in_january(db_session: Session, data: PilotData) -> None:
    rows = _rows(db_session, Grouping.MONTH)
    assert list(rows) == ["2026-01", "2026-03", "2026-04"]  # 31 March 23:30 UTC is April in the UK
    january = rows["2026-01"]
    assert (january.issued, january.opened, january.answered) == (6, 4, 3)
    assert (january.returned, january.returns) == (1, 1)
    assert (january.accepted, january.rejected) == (2, 1)
    assert (january.withdrawn, january.not_this_child, january.answered_elsewhere) == (1, 1, 1)
    # Sent by 7 January: r1 (6th) and r2 (7th, the due day itself); r3 was late. The
    # denominator: the three answered (r4-r6 were closed without an answer).
    assert (january.answered_by_due, january.due_or_answered) == (2, 3)
    assert (january.active_organisations, january.active_people) == (1, 3)
    assert (january.responses, january.satisfied) == (4, 2)
    assert january.completed == 4
    # Opened after 1, 2, 3, 4 hours: median halfway between 2h and 3h; the 90th percentile
    # at position 3 × 0.9 = 2.7, that is 3h + 0.7 × (4h − 3h).
    _close(january.times[Step.OPENED], 4, 2.5 * HOUR.total_seconds(), 3.7 * 3600)
    # First sent after 1, 2, 4 days: 90th at position 1.8, 2d + 0.8 × 2d.
    _close(january.times[Step.SENT], 3, 2 * 86400, 3.6 * 86400)
    # Accepted after 3 and 6 days: median 4.5d; 90th at position 0.9, 3d + 0.9 × 3d.
    _close(january.times[Step.ACCEPTED], 2, 4.5 * 86400, 5.7 * 86400)
    _close(january.times[Step.DELIVERED], 1, 3.5 * 86400, 3.5 * 86400)


@both_backends
def test_the_police_and_the_totals(db_session: Session, data: PilotData) -> None:
    march = _rows(db_session, Grouping.MONTH)["2026-03"]
    assert (march.issued, march.opened, march.answered) == (1, 1, 0)
    assert (march.answered_by_due, march.due_or_answered) == (0, 1)  # p1 is past its due date
    assert Step.SENT not in march.times
    april = _rows(db_session, Grouping.MONTH)["2026-04"]
    assert (april.issued, april.due_or_answered) == (1, 0)  # not due yet
    total = _rows(db_session, Grouping.TOTAL)["all"]
    assert (total.issued, total.opened, total.answered) == (8, 5, 3)
    assert (total.active_organisations, total.active_people) == (2, 4)
    # Opened after 30min, 1h, 2h, 3h, 4h: the median is 2h; the 90th at 3.6, 3h + 0.6h.
    _close(total.times[Step.OPENED], 5, 2 * 3600, 3.6 * 3600)


@both_backends
def test_groups_and_filters(db_session: Session, data: PilotData) -> None:
    by_organisation = _rows(db_session, Grouping.ORGANISATION)
    assert {key: row.kind for key, row in by_organisation.items()} == {
        "Figures Police": "police",
        "Figures Primary": "school",
    }
    assert by_organisation["Figures Police"].issued == 2
    by_kind = _rows(db_session, Grouping.KIND)
    assert (by_kind["school"].issued, by_kind["police"].issued) == (6, 2)
    police = _rows(db_session, Grouping.TOTAL, kind=OrganisationKind.POLICE)["all"]
    assert police.issued == 2
    school = _rows(db_session, Grouping.TOTAL, organisation_id=data.school.id)["all"]
    assert (school.issued, school.responses) == (6, 4)
    first_quarter = figures(
        db_session, Filters(Period(Month(2026, 1), Month(2026, 3))), Grouping.TOTAL, TODAY
    )
    assert first_quarter[0].issued == 7  # p2 is in April in the UK, though March in UTC
    assert (
        figures(db_session, Filters(Period(Month(2025, 1), Month(2025, 12))), Grouping.TOTAL, TODAY)
        == []
    )


@pytest.mark.parametrize(
    "chosen",
    [
        {},
        {"kind": OrganisationKind.SCHOOL},
        {"period": Period(Month(2026, 1), Month(2026, 3))},
        {"period": Period(Month(2025, 1), Month(2025, 12))},
    ],
)
def test_postgresql_and_the_portable_way_agree(
    db_session: Session, data: PilotData, chosen: dict[str, object]
) -> None:
    """On PostgreSQL the figures come from percentile_cont and GROUPING SETS; SQLite's window
    functions, run on the same data in the same database, give the same figures."""
    filters = Filters(**({"period": JANUARY_TO_APRIL} | chosen))  # type: ignore[arg-type]
    ordered = figures_by(db_session, filters, TODAY, tuple(Grouping), portable=False)
    portable = figures_by(db_session, filters, TODAY, tuple(Grouping), portable=True)
    assert ordered.keys() == portable.keys()
    if "period" not in chosen:
        assert ordered[Grouping.MONTH]
    for grouping, rows in ordered.items():
        assert [row.key for row in rows] == [row.key for row in portable[grouping]]
        for fast, slow in zip(rows, portable[grouping], strict=True):
            assert fast.times.keys() == slow.times.keys()
            for step, times in fast.times.items():
                assert times.measured == slow.times[step].measured
                assert times.median == pytest.approx(slow.times[step].median, abs=1e-6)
                assert times.ninetieth == pytest.approx(slow.times[step].ninetieth, abs=1e-6)
            assert replace(fast, times={}) == replace(slow, times={})


@both_backends
def test_a_request_answered_or_declined_without_an_opening_counts_as_opened(
    db_session: Session, keyring: FileKeyring, data: PilotData
) -> None:
    """A partner who went straight to the children or the answers left no opening (nor did
    requests from before openings were recorded): a sent version or a child's confirmation
    says it was opened. And a request answered in the portal, returned, then answered
    elsewhere counts once in digital take-up."""
    cipher = RecordCipher(keyring, db_session)
    case, child = make_case(db_session, cipher, "Noah Price")
    helper = make_user(db_session, data.police, Role.PARTNER_CONTRIBUTOR)
    february = datetime(2026, 2, 3, 9, 0, tzinfo=UTC)

    def issue(status: RequestStatus) -> DelegationRequest:
        found = make_request(db_session, cipher, case, data.police, data.worker)
        found.issued_at, found.due_on, found.status = february, date(2026, 2, 10), status
        db_session.flush()
        return found

    answered = issue(RequestStatus.REVOKED)
    db_session.add(
        Contribution(
            request_id=answered.id,
            version=1,
            status=ContributionStatus.SUBMITTED,
            created_by_id=helper.id,
            submitted_by_id=helper.id,
            submitted_at=february + DAY,
        )
    )
    db_session.add(
        OfflineAnswer(
            request_id=answered.id,
            channel=OfflineChannel.PHONE,
            reason="urgent",
            recorded_by_id=data.worker.id,
        )
    )
    declined = issue(RequestStatus.CHILD_NOT_KNOWN)
    db_session.add(
        ChildConfirmation(
            request_id=declined.id,
            child_id=child.id,
            answer=ChildKnown.NOT_KNOWN,
            confirmed_by_id=helper.id,
        )
    )
    db_session.flush()
    row = _rows(db_session, Grouping.MONTH)["2026-02"]
    assert (row.issued, row.opened, row.answered, row.not_this_child) == (2, 2, 1, 1)
    assert row.completed <= row.opened
    assert (row.answered_elsewhere, row.answered_both_ways) == (1, 1)
    assert (row.answered_only_in_portal, row.answered_either_way) == (0, 1)
    assert Step.OPENED not in row.times  # no opening, so no time to it


@both_backends
def test_the_due_date_is_a_uk_day_in_summer_time(
    db_session: Session, keyring: FileKeyring, data: PilotData
) -> None:
    """Due 15 June (British Summer Time): sent at 22:30 UTC on the 15th is 23:30 in the UK, in
    time; sent at 23:30 UTC is 00:30 on the 16th in the UK, late (though the 15th in UTC)."""
    cipher = RecordCipher(keyring, db_session)
    case, _child = make_case(db_session, cipher, "Isla Moore")
    helper = make_user(db_session, data.police, Role.PARTNER_CONTRIBUTOR)
    issued = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
    for sent_at in (
        datetime(2026, 6, 15, 22, 30, tzinfo=UTC),
        datetime(2026, 6, 15, 23, 30, tzinfo=UTC),
    ):
        found = make_request(db_session, cipher, case, data.police, data.worker)
        found.issued_at, found.due_on, found.status = (
            issued,
            date(2026, 6, 15),
            RequestStatus.SUBMITTED,
        )
        db_session.flush()
        db_session.add(
            Contribution(
                request_id=found.id,
                version=1,
                status=ContributionStatus.SUBMITTED,
                created_by_id=helper.id,
                submitted_by_id=helper.id,
                submitted_at=sent_at,
            )
        )
    db_session.flush()
    (june,) = figures(
        db_session,
        Filters(Period(Month(2026, 6), Month(2026, 6))),
        Grouping.TOTAL,
        date(2026, 7, 1),
    )
    assert (june.answered, june.answered_by_due, june.due_or_answered) == (2, 1, 2)
