"""The pilot's figures (portal/pilot/figures.py) at the bench's volumes: every measure for
every grouping the page shows (all, by month, by organisation, by kind), over the whole two
years of generated requests, over the last twelve months (what the page shows first) and over
one organisation's last twelve months, timed in process
on the run's database, as the page's service computes them.

Each is shown as a ratio to this machine's limit measured in the same run: one pass over every
request (the least any computation of these figures must read), a plain aggregate over the
same rows. The generated requests have no openings, answers outside the portal or feedback:
they are added first, in SQL, in proportions like the demo's."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from bench.report import Figure
from bench.scale import Scale
from portal.pilot.figures import Filters
from portal.pilot.pages import figures_page
from portal.pilot.periods import Month, Period

GOAL_MS = 2000
REPEATS = 3
SUPPRESS_BELOW = 5

OPENINGS = """
INSERT INTO request_openings (request_id, opened_at, opened_by_id)
SELECT r.id, r.issued_at + random() * interval '30 hours', person.id
FROM delegation_requests r
JOIN LATERAL (
    SELECT u.id FROM users u WHERE u.organisation_id = r.partner_organisation_id LIMIT 1
) person ON true
WHERE random() < 0.9
ON CONFLICT DO NOTHING
"""
FEEDBACK = """
INSERT INTO feedback (id, contribution_id, organisation_id, rating, given_at)
SELECT gen_random_uuid(), c.id, r.partner_organisation_id, 1 + floor(random() * 5)::int,
       c.submitted_at
FROM contributions c JOIN delegation_requests r ON r.id = c.request_id
WHERE c.submitted_at IS NOT NULL AND random() < 0.4
ON CONFLICT DO NOTHING
"""
OFFLINE = """
INSERT INTO offline_answers (request_id, channel, reason, recorded_by_id, recorded_at)
SELECT r.id, 'phone', 'urgent', r.requested_by_id, coalesce(r.closed_at, r.issued_at)
FROM delegation_requests r
WHERE r.status = 'revoked' AND random() < 0.3
ON CONFLICT DO NOTHING
"""
# The floor: read every request once and aggregate it.
ONE_PASS = sa.text(
    "SELECT count(*), max(issued_at), sum(CASE WHEN status = 'delivered' THEN 1 ELSE 0 END) "
    "FROM delegation_requests"
)


class Target(Protocol):
    @property
    def scale(self) -> Scale: ...

    @property
    def engine(self) -> Engine: ...

    def progress(self, message: str) -> None: ...


def measure(bench: Target) -> list[Figure]:
    bench.progress("pilot figures: adding openings, feedback and answers outside the portal")
    with bench.engine.begin() as connection:
        for statement in (OPENINGS, FEEDBACK, OFFLINE):
            connection.execute(sa.text(statement))
        connection.exec_driver_sql("ANALYZE")
    today = datetime.now(UTC).date()
    this_month = Month.of(today)
    with Session(bench.engine) as session:
        requests = session.scalar(sa.text("SELECT count(*) FROM delegation_requests")) or 0
        floor = _median_ms(lambda: session.execute(ONE_PASS).all())
        busiest = session.scalar(
            sa.text(
                "SELECT partner_organisation_id FROM delegation_requests "
                "GROUP BY partner_organisation_id ORDER BY count(*) DESC LIMIT 1"
            )
        )
        chosen = {
            "all organisations, 25 months": Filters(Period(this_month.minus(24), this_month)),
            # What the page shows first (the last twelve months).
            "all organisations, 12 months": Filters(Period(this_month.minus(11), this_month)),
            "busiest organisation, 12 months": Filters(
                Period(this_month.minus(11), this_month), organisation_id=busiest
            ),
        }
        figures = []
        for name, filters in chosen.items():
            bench.progress(f"pilot figures: {name}")
            elapsed = _median_ms(
                lambda f=filters: figures_page(session, f, SUPPRESS_BELOW, today)  # type: ignore[misc]
            )
            figures.append(
                Figure(
                    f"pilot figures, {name}",
                    f"{elapsed:,.0f} ms = {elapsed / floor:.1f} × one pass over the requests "
                    f"({floor:,.0f} ms)",
                    f"< {GOAL_MS:,} ms",
                    elapsed < GOAL_MS,
                    f"{requests:,} requests; every measure, 4 groupings; median of {REPEATS}",
                )
            )
    return figures


def _median_ms(run: Callable[[], object]) -> float:
    run()  # warms the caches
    timings = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        run()
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)
