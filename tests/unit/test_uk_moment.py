"""Instants on pages as GOV.UK writes them, in UK time (portal/uk_time.py `uk_moment`)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from portal.uk_time import uk_moment


@pytest.mark.parametrize(
    ("moment", "shown"),
    [
        (datetime(2026, 12, 5, 20, 36, tzinfo=UTC), "5 December 2026 at 8:36pm"),  # GMT
        (datetime(2026, 7, 1, 8, 5, tzinfo=UTC), "1 July 2026 at 9:05am"),  # BST
        (datetime(2026, 7, 1, 8, 0, tzinfo=UTC), "1 July 2026 at 9am"),
        (datetime(2026, 12, 5, 12, 0, tzinfo=UTC), "5 December 2026 at midday"),
        (datetime(2026, 12, 5, 0, 0, tzinfo=UTC), "5 December 2026 at midnight"),
        (datetime(2026, 6, 30, 23, 30, tzinfo=UTC), "1 July 2026 at 12:30am"),
        (None, ""),
    ],
)
def test_an_instant_in_uk_time_govuk_style(moment: datetime | None, shown: str) -> None:
    assert uk_moment(moment) == shown


def test_the_time_of_day_alone_for_the_sign_out_notice() -> None:
    from portal.uk_time import uk_time_of_day

    assert uk_time_of_day(datetime(2026, 12, 5, 20, 0, tzinfo=UTC)) == "8pm"
    assert uk_time_of_day(datetime(2026, 7, 5, 19, 36, tzinfo=UTC)) == "8:36pm"  # summer time
