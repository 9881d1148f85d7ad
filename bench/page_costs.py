"""What one page costs under load, measured in one go: its throughput and latency (locust), the
CPU its web workers and database backends spent per request, and, for the portal's own pages,
encryption's and audit's share of its time (bench/costs.py). And the figures comparing a page
with the floor (bench/floor.py), measured in the same run."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bench import costs
from bench.cpu import CpuMeter, CpuSeconds
from bench.report import Figure
from bench.stack import Bench
from bench.web_load import Load

# A partner page should serve at least half as many requests a second as the floor.
THROUGHPUT_GOAL = 0.5


@dataclass(frozen=True)
class PageCost:
    name: str
    load: Load
    cpu: CpuSeconds
    shares: costs.Shares | None

    def cpu_ms(self) -> float:
        """CPU milliseconds per request, web workers and database together."""
        return 1000 * self.cpu.total / max(self.load.requests, 1)

    def describe_cpu(self) -> str:
        each = 1000 / max(self.load.requests, 1)
        return (
            f"{self.cpu_ms():.1f} ms (web {self.cpu.web * each:.1f} + "
            f"database {self.cpu.database * each:.1f})"
        )


def measured(
    bench: Bench,
    name: str,
    run: Callable[[], Load],
    web_pids: Callable[[], list[int]],
    portal: bool = True,
) -> PageCost:
    """`run` (one page's load) measured: with the portal's histograms when `portal`."""
    meter = CpuMeter(bench.engine, web_pids)
    before = costs.scrape(bench.portal_url, bench.metrics_token) if portal else {}
    meter.start()
    load = run()
    cpu = meter.stop()
    shares = None
    if portal:
        after = costs.scrape(bench.portal_url, bench.metrics_token)
        shares = costs.shares_between(before, after)
    return PageCost(name, load, cpu, shares)


def shares_figure(page: PageCost, how: str) -> Figure:
    if page.shares is None:
        raise ValueError(f"{page.name} was not measured on the portal")
    return Figure(f"{page.name}: encryption and audit share", page.shares.describe(), note=how)


def floor_figure(floor: PageCost, users: int) -> Figure:
    return Figure(
        f"floor page, {users} users",
        f"{floor.load.per_second:.0f}/s; CPU/request {floor.describe_cpu()}",
        note="bench/floor.py: a session, a person, one indexed query, the GOV.UK layout",
    )


def ratio_figure(page: PageCost, floor: PageCost, users: str, goal: bool = True) -> Figure:
    """`page` against the floor: throughput (higher is better) and CPU per request (lower)."""
    throughput = page.load.per_second / floor.load.per_second if floor.load.per_second else 0.0
    cpu = page.cpu_ms() / floor.cpu_ms() if floor.cpu_ms() else 0.0
    return Figure(
        f"{page.name} ÷ floor",
        f"throughput {throughput:.2f} ({page.load.per_second:.1f}/s); "
        f"CPU/request {cpu:.1f} × ({page.describe_cpu()})",
        f"≥ {THROUGHPUT_GOAL} × floor" if goal else "",
        throughput >= THROUGHPUT_GOAL if goal else None,
        f"{users}; the floor's row above",
    )
