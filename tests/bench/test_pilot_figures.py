"""The pilot figures' bench (bench/pilot_figures.py) on the smoke volumes, in a database of
its own: it runs, says what it measured, and the figures it times count every request."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from bench import pilot_figures
from portal.crypto import FileKeyring
from portal.pilot.figures import Filters, Grouping
from portal.pilot.periods import Month, Period
from tests.support.bench_run import Run, smoke_run
from tests.support.pilot_data import figures


@pytest.fixture(scope="module")
def run(postgres_admin: Engine, keyring: FileKeyring) -> Iterator[Run]:
    with smoke_run(postgres_admin, keyring, "pilot") as (made, _volumes, _url):
        yield made


def test_the_figures_are_measured_over_every_request(run: Run) -> None:
    measured = pilot_figures.measure(run)
    assert [figure.name for figure in measured] == [
        "pilot figures, all organisations, 25 months",
        "pilot figures, all organisations, 12 months",
        "pilot figures, busiest organisation, 12 months",
    ]
    for figure in measured:
        assert re.fullmatch(
            r"[\d,]+ ms = \d+\.\d × one pass over the requests \(\d+ ms\)", figure.measured
        )
    today = datetime.now(UTC).date()
    period = Period(Month.of(today).minus(24), Month.of(today))
    with Session(run.engine) as session:
        (total,) = figures(session, Filters(period), Grouping.TOTAL, today)
        assert total.issued == session.scalar(sa.text("SELECT count(*) FROM delegation_requests"))
        assert total.opened > 0 and total.responses > 0 and total.answered > 0
