"""The demo's pilot history (portal/pilot/demo.py): plausible figures on both databases."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from flask import Flask
from sqlalchemy.orm import Session

from portal import db
from portal.crypto import FileKeyring
from portal.crypto.records import RecordCipher
from portal.demo.seed import seed_demo_data
from portal.models import DelegationRequest
from portal.pilot.demo import MONTHS, add_pilot_history
from portal.pilot.figures import Filters, Grouping, Step
from portal.pilot.pages import default_period
from portal.pilot.periods import Month
from tests.conftest import both_backends
from tests.support.demo_identity import providers_on
from tests.support.pilot_data import figures
from tests.support.world import World


@both_backends
def test_the_demo_history_gives_every_figure(
    db_session: Session, keyring: FileKeyring, world: World
) -> None:
    now = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
    added = add_pilot_history(db_session, RecordCipher(keyring, db_session), now)
    assert added >= 2 * 5 * MONTHS  # both live schools, at least five a month each
    # All closed and past their closing dates: in nobody's inbox.
    still_open = sa.select(sa.func.count()).where(DelegationRequest.expires_at > now)
    assert db_session.scalar(still_open) == 0
    period = default_period(now.date())
    (total,) = figures(db_session, Filters(period), Grouping.TOTAL, now.date())
    assert total.issued == added
    assert 0 < total.answered < total.opened < total.issued
    assert total.responses > 0 and total.answered_elsewhere > 0 and total.returns > 0
    assert set(total.times) == set(Step)
    months = figures(db_session, Filters(period), Grouping.MONTH, now.date())
    assert len(months) >= MONTHS - 1 and Month.parse(months[0].key) is not None


@both_backends
def test_on_the_demo_seed(app: Flask) -> None:
    """The demo seed adds the history once its people and cases are made: the figures pages
    have something to show from the first sign-in."""
    with app.app_context():
        session = db.session()
        seed_demo_data(session, providers_on())
        today = datetime.now(UTC).date()
        (total,) = figures(session, Filters(default_period(today)), Grouping.TOTAL, today)
        assert total.issued > 0 and total.answered > 0 and total.responses > 0
        session.rollback()
