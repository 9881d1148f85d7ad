"""The partner pages against the floor, in the same run and at the same concurrency: first the
floor page (bench/floor.py) alone, then the inbox alone, then the request page alone, each for
the run's page time. Each page's throughput and CPU per request as a ratio to the floor's, and
encryption's and audit's share of its time."""

from __future__ import annotations

import uuid
from functools import partial
from typing import Any

from bench import pages
from bench.page_costs import PageCost, floor_figure, measured, ratio_figure, shares_figure
from bench.report import Figure
from bench.stack import Bench
from bench.web_load import Load, run_locust


def users(bench: Bench) -> int:
    """The middle of the run's levels of concurrency: enough to keep both workers busy."""
    levels = sorted(bench.scale.users)
    return levels[len(levels) // 2]


def measure(bench: Bench, readers: dict[uuid.UUID, list[str]]) -> tuple[list[Figure], PageCost]:
    """The figures, and the floor's own cost (for the other pages' ratios)."""
    plan = pages.reader_plan(bench, readers)
    level = users(bench)
    seconds = bench.scale.seconds
    with bench.floor() as floor:
        bench.progress(f"the floor page, {level} signed-in users, {seconds:.0f} s")
        alone = plan | {"pages": ["floor"]}
        run_locust(bench.directory, floor.url, alone, "Reader", 1, max(2.0, seconds / 4))  # warm
        run = partial(_one_page, bench, floor.url, alone, level, "floor")
        floor_cost = measured(bench, "floor", run, floor.worker_pids, portal=False)
    figures = [floor_figure(floor_cost, level)]
    for page in pages.PAGES:
        bench.progress(f"the {page} alone, {level} signed-in users, {seconds:.0f} s")
        run = partial(_one_page, bench, bench.portal_url, plan | {"pages": [page]}, level, page)
        cost = measured(bench, page, run, bench.web_worker_pids)
        figures.append(ratio_figure(cost, floor_cost, f"{level} users, this page alone"))
        figures.append(shares_figure(cost, f"{cost.load.requests} requests, histogram sums"))
    return figures, floor_cost


def _one_page(bench: Bench, url: str, plan: dict[str, Any], level: int, page: str) -> Load:
    return run_locust(bench.directory, url, plan, "Reader", level, bench.scale.seconds)[page]
