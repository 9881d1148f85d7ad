"""My requests under load: a social work team of its own with 5,000 requests (two years of
them, in the states their age makes likely, bench/casework.py), and ten of its workers each
opening My requests widened to "My team's" again and again at once (every worker then sees
the whole team's requests: portal/requests/access.py council_sees). Each view is the first
page, the second page or the page filtered to one status, so the figure covers the ordering,
the count, an offset and a filter; each shows 25 rows with their children's names decrypted
and their reads audited.

The figures: p95 at the run's middle concurrency (10 users in the full run), and the page's
throughput and CPU per request as a ratio to the floor page (bench/floor.py) measured in the
same run at the same concurrency, with encryption's and audit's share of its time."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import psycopg
import sqlalchemy as sa
from sqlalchemy.orm import Session

from bench import against_floor, casework
from bench.answers import Answers
from bench.bulk import Sealer, Writer
from bench.organisations import _person
from bench.page_costs import PageCost, measured, ratio_figure, shares_figure
from bench.progress import Counter
from bench.report import Figure
from bench.scale import FULL, Scale
from bench.sessions import COOKIE, signed_in
from bench.stack import Bench
from bench.volumes import Target
from bench.web_load import Load, run_locust
from portal.models import Organisation, OrganisationKind, Role, RoleAssignment, Team, User

PAGE = "my requests"
GOAL_MS = 250
WORKERS = 10
REQUESTS_PER_CASE = 3
# Cases numbered apart from the generated ones (bench/volumes.py) and the reference CMS's.
FIRST_CASE_NUMBER = 8_000_000
PATHS = (
    "/requests?whose=team",
    "/requests?page=2&whose=team",
    "/requests?status=delivered&whose=team",
)


def team_requests(scale: Scale) -> int:
    return 5_000 if scale is FULL else 60


@dataclass(frozen=True)
class BenchTeam:
    id: uuid.UUID
    workers: tuple[uuid.UUID, ...]
    requests: int


def prepare(bench: Target) -> BenchTeam:
    """A team of the generated council with its workers, cases and requests to its partners
    (run after bench/volumes.py generate, which makes the council and the partners)."""
    rng = random.Random(20)  # noqa: S311 - test data
    count, now = team_requests(bench.scale), datetime.now(UTC)
    with Session(bench.engine) as session, session.begin():
        council = session.scalars(
            sa.select(Organisation).where(Organisation.kind == OrganisationKind.COUNCIL)
        ).first()
        if council is None:
            raise RuntimeError("generate the volumes first: there is no council")
        team = Team(organisation=council, name="Children in Need Team Bench")
        workers = [_person(session, council, rng, Role.SOCIAL_WORKER, team) for _ in range(WORKERS)]
        session.flush()
        team_id, worker_ids = team.id, tuple(worker.id for worker in workers)
        partners = _partners(session)
    times = casework.issue_times(rng, count, now)
    cases = -(-count // REQUESTS_PER_CASE)
    opened = [min(times) - timedelta(hours=rng.uniform(1, 48)) for _ in range(cases)]
    url = bench.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(url) as connection:
        sealer = Sealer(bench.keyring)
        writer = Writer(connection, sealer, "cases", "children")
        made = casework.write_cases(
            writer, rng, {team_id: worker_ids}, opened, lambda _: None, FIRST_CASE_NUMBER
        )
        tables = ("delegation_requests", "request_children", "contributions", "reviews", "outbox")
        writer = Writer(connection, sealer, *tables)
        chosen = rng.choices(partners, [p.weight for p in partners], k=count)
        plan = [(t, made[n % cases], p) for n, (t, p) in enumerate(zip(times, chosen, strict=True))]
        casework.write_requests(writer, rng, Answers(), plan, now, Counter("team requests", count))
        connection.execute("ANALYZE")
        connection.commit()
    return BenchTeam(team_id, worker_ids, count)


def _partners(session: Session) -> list[casework.Partner]:
    """The generated partners with their people, as bench/organisations.py made them."""
    people = session.execute(
        sa.select(User.organisation_id, User.id, RoleAssignment.role)
        .join(RoleAssignment, RoleAssignment.user_id == User.id)
        .where(RoleAssignment.role.in_([Role.PARTNER_LEAD, Role.PARTNER_CONTRIBUTOR]))
        .order_by(User.id)
    ).all()
    kinds = {
        row.id: row.kind for row in session.execute(sa.select(Organisation.id, Organisation.kind))
    }
    everyone: dict[uuid.UUID, list[uuid.UUID]] = {}
    answering: dict[uuid.UUID, list[uuid.UUID]] = {}
    for organisation, person, role in people:
        everyone.setdefault(organisation, []).append(person)
        if role == Role.PARTNER_CONTRIBUTOR:
            answering.setdefault(organisation, []).append(person)
    return [
        casework.Partner(org, kinds[org].value, 1.0, tuple(everyone[org]), tuple(answering[org]))
        for org in sorted(answering)
    ]


def plan_for(bench: Target, team: BenchTeam) -> dict[str, Any]:
    tokens = signed_in(bench.engine, list(team.workers))
    return {
        "cookie": COOKIE,
        "document_bytes": 0,
        "readers": [],
        "submitters": [],
        "council": [{"token": token, "paths": list(PATHS)} for token in tokens.values()],
    }


def measure(bench: Bench, floor: PageCost) -> list[Figure]:
    """The figures, against `floor` (bench/against_floor.py) measured in the same run."""
    bench.progress(f"a team with {team_requests(bench.scale):,} requests for My requests")
    team = prepare(bench)
    plan = plan_for(bench, team)
    level, seconds = against_floor.users(bench), bench.scale.seconds
    run_locust(bench.directory, bench.portal_url, plan, "CouncilReader", 1, max(2.0, seconds / 4))
    bench.progress(f"My requests alone, {level} signed-in workers, {seconds:.0f} s")
    cost = measured(bench, PAGE, partial(_load, bench, plan, level), bench.web_worker_pids)
    load = cost.load
    return [
        Figure(
            f"{PAGE}, {team.requests:,} requests in the team, {level} users",
            load.describe(),
            f"p95 < {GOAL_MS} ms",
            load.p95 < GOAL_MS,
            f"locust, {load.requests} views of 25 rows (pages 1, 2 and a status)",
        ),
        ratio_figure(cost, floor, f"{level} users, this page alone"),
        shares_figure(cost, f"{load.requests} requests, histogram sums"),
    ]


def _load(bench: Bench, plan: dict[str, Any], level: int) -> Load:
    loads = run_locust(
        bench.directory, bench.portal_url, plan, "CouncilReader", level, bench.scale.seconds
    )
    return loads[PAGE]
