"""Partners under load: the inbox and a request page at each level of concurrent signed-in
partners, and sending a contribution with a 1 MB document (with its CPU per send and
encryption's and audit's share of its time)."""

from __future__ import annotations

import uuid
from functools import partial
from typing import Any

from bench import drafts
from bench.page_costs import PageCost, measured, shares_figure
from bench.report import Figure
from bench.sessions import COOKIE, signed_in
from bench.stack import Bench
from bench.web_load import Load, run_locust

SEND_GOAL_MS = 250
# p95 at the busiest level. The request page reads one request: 50 ms. The inbox, since issue
# 20, names each row's children (decrypting them for the 25 rows shown) and writes 25 audited
# reads a view (appended together in one insert): the goal of a page that writes, as sending's
# and My requests' (bench/my_requests.py), not that of a read-only page.
PAGE_GOALS_MS = {"inbox": 250, "request page": 50}
DOCUMENT_BYTES = 1024 * 1024
PAGES = ("inbox", "request page")


def reader_plan(bench: Bench, readers: dict[uuid.UUID, list[str]]) -> dict[str, Any]:
    tokens = signed_in(bench.engine, list(readers))
    return {
        "cookie": COOKIE,
        "document_bytes": DOCUMENT_BYTES,
        "readers": [{"token": tokens[user], "references": refs} for user, refs in readers.items()],
        "submitters": [],
    }


def read_pages(bench: Bench, plan: dict[str, Any], users: int) -> dict[str, Load]:
    return run_locust(bench.directory, bench.portal_url, plan, "Reader", users, bench.scale.seconds)


def measure_pages(bench: Bench, readers: dict[uuid.UUID, list[str]]) -> list[Figure]:
    plan = reader_plan(bench, readers)
    read_pages(bench, plan | {}, 1)  # warm: templates compiled, connection pools filled
    figures = []
    busiest = max(bench.scale.users)
    for users in bench.scale.users:
        bench.progress(f"partner pages, {users} signed-in users, {bench.scale.seconds:.0f} s")
        loads = read_pages(bench, plan, users)
        for page in PAGES:
            load = loads[page]
            goal = users == busiest
            figures.append(
                Figure(
                    f"{page}, {users} user{'' if users == 1 else 's'}",
                    load.describe(),
                    f"p95 < {PAGE_GOALS_MS[page]} ms" if goal else "",
                    load.p95 < PAGE_GOALS_MS[page] if goal else None,
                    f"locust, {load.requests} requests",
                )
            )
    return figures


def submit_plan(bench: Bench, submitters: dict[uuid.UUID, list[str]]) -> dict[str, Any]:
    """Sessions and answered drafts for each submitter (answering is not timed)."""
    tokens = signed_in(bench.engine, list(submitters))
    plan: dict[str, Any] = {"cookie": COOKIE, "document_bytes": DOCUMENT_BYTES, "readers": []}
    plan["submitters"] = []
    for user, references in submitters.items():
        csrf, ready = drafts.prepare(bench.engine, bench.portal_url, tokens[user], references)
        plan["submitters"].append(
            {"token": tokens[user], "csrf": csrf, "drafts": [vars(d) for d in ready]}
        )
    return plan


def send(bench: Bench, plan: dict[str, Any]) -> Load:
    users = len(plan["submitters"])
    loads = run_locust(
        bench.directory, bench.portal_url, plan, "Submitter", users, bench.scale.seconds
    )
    return loads["attach 1 MB and send"]


def measure_send(
    bench: Bench, submitters: dict[uuid.UUID, list[str]]
) -> tuple[list[Figure], PageCost]:
    bench.progress(f"answering {sum(map(len, submitters.values()))} drafts to send (not timed)")
    plan = submit_plan(bench, submitters)
    bench.progress(f"sending with a 1 MB document, {len(submitters)} partners at once")
    cost = measured(
        bench, "attach 1 MB and send", partial(send, bench, plan), bench.web_worker_pids
    )
    load = cost.load
    figure = Figure(
        f"attach 1 MB and send, {len(submitters)} users",
        f"{load.per_second:.1f}/s; p50 {load.p50:.0f} ms, p95 {load.p95:.0f} ms",
        f"p95 < {SEND_GOAL_MS} ms",
        load.p95 < SEND_GOAL_MS,
        f"locust, {load.requests} sent (upload + send)",
    )
    shares = shares_figure(cost, f"{load.requests} sent (upload + send), histogram sums")
    return [figure, shares], cost
