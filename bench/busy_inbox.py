"""The inbox of an organisation with thousands of requests (issue 20): 5,000 requests at one
partner, its people opening their inbox's first page (with the children's names, who each is
with, the counts and their audited reads) at 10 concurrent users; p95 as a ratio to the floor
page (bench/floor.py) measured in the same run at the same concurrency.

The generated data spreads requests over every partner, so the busiest partner is given more
by moving other partners' requests to it, in SQL, still open (nothing sealed changes: a sealed
column is bound to its row, not to the partner). This runs after the figures that read the
generated partners as they were."""

from __future__ import annotations

import uuid
from functools import partial
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from bench.page_costs import PageCost, measured
from bench.report import Figure
from bench.scale import FULL
from bench.sessions import COOKIE, signed_in
from bench.stack import Bench
from bench.web_load import Load, run_locust

FULL_REQUESTS = 5_000
SMOKE_REQUESTS = 300
FULL_USERS = 10
GOAL_MS = 250
# How many of the busy partner's people read at once (sessions are shared round the users).
READERS = 10

# Of the generated partners, those with a lead (the connector drain's school, made earlier in
# the run with 10,000 requests, has none).
BUSIEST = """
SELECT r.partner_organisation_id FROM delegation_requests r
WHERE EXISTS (
    SELECT 1 FROM users u JOIN role_assignments a ON a.user_id = u.id
    WHERE u.organisation_id = r.partner_organisation_id AND u.status = 'active'
      AND a.role = 'partner_lead'
)
GROUP BY r.partner_organisation_id ORDER BY count(*) DESC LIMIT 1
"""
# Other partners' requests moved to the busy one until it has :wanted (no named recipient:
# theirs work elsewhere); then all its requests open to it, due over the coming two months,
# and one in ten passed to its first lead (its "passed to me").
MOVE = """
WITH moved AS (
    SELECT id FROM delegation_requests
    WHERE partner_organisation_id <> :org
    ORDER BY id
    LIMIT greatest(:wanted - (SELECT count(*) FROM delegation_requests
                              WHERE partner_organisation_id = :org), 0)
)
UPDATE delegation_requests r SET partner_organisation_id = :org, named_recipient_id = NULL
FROM moved WHERE r.id = moved.id
"""
OPEN_TO_IT = """
UPDATE delegation_requests SET
    named_recipient_id = CASE WHEN random() < 0.1 THEN CAST(:lead AS uuid)
                              ELSE named_recipient_id END,
    status = CASE WHEN status IN ('revoked', 'expired') THEN 'issued' ELSE status END,
    due_on = current_date + (random() * 60)::int - 5,
    expires_at = now() + interval '90 days'
WHERE partner_organisation_id = :org
"""
PEOPLE = """
SELECT u.id, bool_or(a.role = 'partner_lead') AS lead FROM users u
JOIN role_assignments a ON a.user_id = u.id
WHERE u.organisation_id = :org AND u.status = 'active'
  AND a.role IN ('partner_lead', 'partner_contributor')
GROUP BY u.id ORDER BY bool_or(a.role = 'partner_lead') DESC, u.id LIMIT :readers
"""


def measure(bench: Bench) -> list[Figure]:
    wanted = FULL_REQUESTS if bench.scale is FULL else SMOKE_REQUESTS
    users = FULL_USERS if bench.scale is FULL else max(bench.scale.users)
    bench.progress(f"busy inbox: giving one partner {wanted:,} requests")
    _organisation, people, listed = busy_partner(bench.engine, wanted)
    tokens = signed_in(bench.engine, people)
    plan: dict[str, Any] = {
        "cookie": COOKIE,
        "document_bytes": 0,
        "readers": [{"token": token, "references": []} for token in tokens.values()],
        "submitters": [],
    }
    seconds = bench.scale.seconds
    with bench.floor() as floor:
        bench.progress(f"busy inbox: the floor page, {users} users, {seconds:.0f} s")
        alone = plan | {"pages": ["floor"]}
        run_locust(bench.directory, floor.url, alone, "Reader", 1, max(2.0, seconds / 4))
        run = partial(_page, bench, floor.url, alone, users, "floor")
        floor_cost = measured(bench, "floor", run, floor.worker_pids, portal=False)
    inbox = plan | {"pages": ["inbox"]}
    run_locust(bench.directory, bench.portal_url, inbox, "Reader", 1, max(2.0, seconds / 4))
    bench.progress(f"busy inbox: {listed:,} requests, {users} users, {seconds:.0f} s")
    run = partial(_page, bench, bench.portal_url, inbox, users, "inbox")
    cost = measured(bench, "busy inbox", run, bench.web_worker_pids)
    return [figure(cost, floor_cost, listed, users)]


def figure(cost: PageCost, floor: PageCost, listed: int, users: int) -> Figure:
    load, base = cost.load, floor.load
    ratio = load.p95 / base.p95 if base.p95 else 0.0
    return Figure(
        "inbox at a busy partner, p95",
        f"p95 {load.p95:.0f} ms = {ratio:.1f} × the floor's p95 ({base.p95:.0f} ms); "
        f"{load.per_second:.0f}/s, CPU/request {cost.describe_cpu()}",
        f"p95 < {GOAL_MS} ms",
        load.p95 < GOAL_MS,
        f"{listed:,} requests at one partner, {users} users, page 1 with names and counts; "
        f"locust, {load.requests} requests",
    )


def busy_partner(engine: Engine, wanted: int) -> tuple[uuid.UUID, list[uuid.UUID], int]:
    """The busiest partner, given `wanted` requests open to it; its readers (a lead first),
    and how many requests it now has."""
    with engine.begin() as connection:
        organisation = connection.scalar(sa.text(BUSIEST))
        found = connection.execute(sa.text(PEOPLE), {"org": organisation, "readers": READERS}).all()
        if not found or not found[0].lead:
            raise RuntimeError("the busiest partner has no active partner lead to read its inbox")
        people = [row.id for row in found]
        arguments = {"org": organisation, "wanted": wanted}
        connection.execute(sa.text(MOVE), arguments)
        connection.execute(sa.text(OPEN_TO_IT), {"org": organisation, "lead": str(people[0])})
        listed = connection.scalar(
            sa.text("SELECT count(*) FROM delegation_requests WHERE partner_organisation_id = :o"),
            {"o": organisation},
        )
        connection.exec_driver_sql("ANALYZE delegation_requests")
    return organisation, people, int(listed or 0)


def _page(bench: Bench, url: str, plan: dict[str, Any], users: int, page: str) -> Load:
    return run_locust(bench.directory, url, plan, "Reader", users, bench.scale.seconds)[page]
