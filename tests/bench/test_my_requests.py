"""The My requests bench (bench/my_requests.py) on the smoke volumes, in a database of its own:
it makes a team with the figure's number of requests, which each of its workers sees whole
through the page's own service (widened to "My team's"), and a locust plan that signs every
worker in."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from bench import my_requests
from bench.scale import FULL, SMOKE
from portal.crypto import FileKeyring
from portal.crypto.records import RecordCipher
from portal.models import Case, DelegationRequest, User, WebSession
from portal.requests import mine
from tests.support.bench_run import Run, smoke_run


@pytest.fixture(scope="module")
def run(postgres_admin: Engine, keyring: FileKeyring) -> Iterator[Run]:
    with smoke_run(postgres_admin, keyring, "myrequests") as (made, _volumes, _url):
        yield made


@pytest.fixture(scope="module")
def team(run: Run) -> my_requests.BenchTeam:
    return my_requests.prepare(run)


def test_the_team_has_the_figures_requests_and_each_worker_sees_them_all(
    run: Run, team: my_requests.BenchTeam
) -> None:
    assert my_requests.team_requests(FULL) == 5_000

    assert team.requests == my_requests.team_requests(SMOKE)
    assert len(team.workers) == my_requests.WORKERS
    with Session(run.engine) as session:
        on_team = session.scalar(
            sa.select(sa.func.count())
            .select_from(DelegationRequest)
            .join(Case, Case.id == DelegationRequest.case_id)
            .where(Case.team_id == team.id)
        )
        assert on_team == team.requests
        worker = session.get(User, team.workers[-1])
        assert worker is not None
        with Flask(__name__).test_request_context():
            page = mine.my_requests_page(
                session,
                RecordCipher(run.keyring, session),
                worker,
                mine.Filters(whose=mine.TEAMS),
                date.today(),
            )
        assert page is not None and page.total == team.requests
        assert len(page.rows) == mine.PAGE_SIZE and all(row.children for row in page.rows)


def test_the_plan_signs_in_every_worker_with_the_pages_to_open(
    run: Run, team: my_requests.BenchTeam
) -> None:
    plan = my_requests.plan_for(run, team)
    assert len(plan["council"]) == len(team.workers)
    assert all(entry["paths"] == list(my_requests.PATHS) for entry in plan["council"])
    with Session(run.engine) as session:
        sessions = session.scalar(
            sa.select(sa.func.count())
            .select_from(WebSession)
            .where(WebSession.user_id.in_(team.workers))
        )
    assert sessions == len(team.workers)
