"""The busy inbox's bench (bench/busy_inbox.py) on the smoke volumes, in a database of its own:
the partner it picks really has the requests, all of them on its lead's inbox, and the page's
service reads only one page of them; its figure says what it measured, against the floor."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from bench import busy_inbox
from bench.cpu import CpuSeconds
from bench.page_costs import PageCost
from bench.web_load import Load
from portal.crypto import FileKeyring
from portal.models import User
from portal.requests import inbox
from portal.uk_time import uk_today
from tests.support.bench_run import Run, smoke_run


@pytest.fixture(scope="module")
def run(postgres_admin: Engine, keyring: FileKeyring) -> Iterator[Run]:
    with smoke_run(postgres_admin, keyring, "inbox") as (made, _volumes, _url):
        yield made


def test_the_busy_partner_has_the_requests_and_its_lead_sees_them_a_page_at_a_time(
    run: Run,
) -> None:
    organisation, people, listed = busy_inbox.busy_partner(run.engine, busy_inbox.SMOKE_REQUESTS)

    assert listed == busy_inbox.SMOKE_REQUESTS
    with Session(run.engine) as session:
        lead = session.get(User, people[0])
        assert lead is not None and lead.organisation_id == organisation
        page = inbox.inbox_page(session, lead, 1, None, uk_today())
        assert page is not None
        assert page.total == listed  # every one of them open to the lead
        assert len(page.rows) == inbox.INBOX_PAGE_SIZE
        counts = inbox.inbox_counts(session, lead, uk_today())
        assert counts.with_me > 0 and counts.to_answer > 0
        assert (
            session.scalar(
                sa.text("SELECT count(DISTINCT partner_organisation_id) FROM delegation_requests")
            )
            > 1
        )  # other partners keep some


def test_the_figure_is_the_p95_as_a_ratio_to_the_floors() -> None:
    def cost(p95: float) -> PageCost:
        load = Load("page", 400, 0, 40.0, p95 / 2, p95, p95 * 2)
        return PageCost("page", load, CpuSeconds(web=1.0, database=0.5), None)

    made = busy_inbox.figure(cost(120), cost(20), 5000, 10)

    assert made.name == "inbox at a busy partner, p95"
    assert re.fullmatch(
        r"p95 120 ms = 6\.0 × the floor's p95 \(20 ms\); 40/s, CPU/request .*", made.measured
    )
    assert made.met is True and made.goal == f"p95 < {busy_inbox.GOAL_MS} ms"
    assert "5,000 requests at one partner, 10 users" in made.note
    assert busy_inbox.figure(cost(900), cost(20), 5000, 10).met is False
