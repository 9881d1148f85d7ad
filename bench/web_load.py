"""Driving the portal with locust, headless, in a process of its own: N simulated people for
a fixed time, and what they saw (requests/s and latency percentiles per kind of request,
from locust's own statistics)."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loopback.processes import PROJECT_ROOT


@dataclass(frozen=True)
class Load:
    name: str
    requests: int
    failures: int
    per_second: float
    p50: float
    p95: float
    p99: float

    def describe(self) -> str:
        return (
            f"{self.per_second:.0f}/s; p50 {self.p50:.0f} ms, p95 {self.p95:.0f} ms, "
            f"p99 {self.p99:.0f} ms"
        )


def run_locust(
    directory: Path,
    portal_url: str,
    plan: dict[str, Any],
    user_class: str,
    users: int,
    seconds: float,
) -> dict[str, Load]:
    """Run locust and return its statistics by request name. Fails when any request failed."""
    plan_path = directory / "plan.json"
    plan_path.write_text(json.dumps(plan), encoding="utf-8")
    prefix = directory / f"locust-{user_class.lower()}-{users}"
    command = [sys.executable, "-m", "locust", "-f", "bench/locustfile.py", "--headless"]
    command += ["--host", portal_url, "--users", str(users), "--spawn-rate", str(users)]
    command += ["--run-time", f"{seconds:.0f}s", "--stop-timeout", "30", "--csv", str(prefix)]
    command += ["--only-summary", "--loglevel", "WARNING", "--exit-code-on-error", "0", user_class]
    environment = {"BENCH_PLAN": str(plan_path), "PATH": "/usr/bin:/bin"}
    with (directory / "locust.log").open("a") as log:
        finished = subprocess.run(  # noqa: S603 - our own locustfile
            command, cwd=PROJECT_ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT
        )
    if finished.returncode != 0:
        raise RuntimeError(f"locust stopped with {finished.returncode}: see {directory}/locust.log")
    loads = _read_stats(Path(f"{prefix}_stats.csv"))
    failed = {name: load.failures for name, load in loads.items() if load.failures}
    if failed:
        raise RuntimeError(f"requests failed under load {failed}: see {prefix}_failures.csv")
    return loads


def _read_stats(path: Path) -> dict[str, Load]:
    loads = {}
    with path.open(encoding="utf-8") as stats:
        for row in csv.DictReader(stats):
            if row["Name"] == "Aggregated":
                continue
            loads[row["Name"]] = Load(
                name=row["Name"],
                requests=int(row["Request Count"]),
                failures=int(row["Failure Count"]),
                per_second=float(row["Requests/s"]),
                p50=float(row["50%"]),
                p95=float(row["95%"]),
                p99=float(row["99%"]),
            )
    return loads
