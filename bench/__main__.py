"""`make bench`: start the real stack on loopback, generate the issue's volumes, measure every
figure, print one table and write it to docs/benchmarks.md with the machine, date and command.

    python -m bench            the full run (about 15 minutes on 2 cores)
    python -m bench --smoke    tiny volumes and short runs: proves every figure runs, fast
"""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench import (
    against_floor,
    audit_speed,
    audit_verify_speed,
    busy_inbox,
    connector_drain,
    crypto_speed,
    disarm_speed,
    machine,
    memory,
    my_requests,
    pages,
    pilot_figures,
    search,
    targets,
    volumes,
)
from bench.page_costs import ratio_figure
from bench.report import Figure, table
from bench.scale import FULL, SMOKE, Scale
from bench.stack import Bench, open_bench

READERS = 60


def main(argv: list[str] | None = None) -> int:
    # Stopped by a signal (a CI timeout), unwind as for Ctrl-C: the stack's processes are
    # stopped and its database dropped.
    signal.signal(signal.SIGTERM, lambda _signum, _frame: sys.exit(143))
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny volumes, short runs")
    parser.add_argument("--output", type=Path, help="write the report here too (Markdown)")
    parser.add_argument("--directory", type=Path, help="keep logs here (default: a temp dir)")
    arguments = parser.parse_args(argv)
    scale = SMOKE if arguments.smoke else FULL
    directory = arguments.directory or Path(tempfile.mkdtemp(prefix="portal-bench-"))
    started = time.monotonic()
    figures, described = run(scale, directory)
    report = render(figures, described, scale, time.monotonic() - started, argv)
    print(table(figures))
    if arguments.output:
        write_report(arguments.output, report)
        print(f"\nWritten to {arguments.output}; logs in {directory}", file=sys.stderr)
    return 0


def run(scale: Scale, directory: Path) -> tuple[list[Figure], list[str]]:
    figures: list[Figure] = []
    with open_bench(scale, directory / "stack") as bench:
        described = machine.describe(bench.engine)
        figures += crypto_speed.measure(bench)
        figures += disarm_speed.measure(bench)
        generated = volumes.generate(bench)
        bench.progress(f"generated: {generated}")
        chosen = targets.partners(bench.engine, READERS, scale.submitters, scale.drafts_each)
        figures += pages.measure_pages(bench, chosen.readers)
        against, floor = against_floor.measure(bench, chosen.readers)
        figures += against
        sending, sent = pages.measure_send(bench, chosen.submitters)
        figures += sending
        users = (
            f"{len(chosen.submitters)} users, sending; the floor at {against_floor.users(bench)}"
        )
        figures.append(ratio_figure(sent, floor, users, goal=False))
        figures += memory.measure(bench, *chosen.memory)
        figures += _searches(bench, f"{scale.audit_events:,} events")
        figures += audit_speed.measure(bench)
        verification, verified = audit_verify_speed.full(bench)
        figures.append(verification)
        smaller_log = audit_verify_speed.incremental(bench, verified)
        figures += connector_drain.measure(bench)
        figures += pilot_figures.measure(bench)
        figures += busy_inbox.measure(bench)  # moves requests: after the figures above
        # Its own team's requests, added last so that the figures above see the volumes alone.
        figures += my_requests.measure(bench, floor)
        bench.progress(f"growing the audit trail to {scale.more_audit_events:,} events")
        volumes.grow_audit_trail(bench, scale.more_audit_events)
        figures += _searches(bench, f"{scale.more_audit_events:,} events")
        larger_log = audit_verify_speed.incremental(bench, smaller_log.verified)
        figures.append(audit_verify_speed.incremental_figure(smaller_log, larger_log))
    return figures, described


def _searches(bench: Bench, events: str) -> list[Figure]:
    audit_verify_speed.settle(bench)  # a witnessed head, as production always has
    chosen = targets.searches(bench.engine, 40 if bench.scale is FULL else 4)
    return search.measure(bench, chosen.officer, chosen.cases, chosen.people, chosen.days, events)


BEGIN = "<!-- measured by python -m bench: everything to the end marker is replaced -->"
END = "<!-- end of the measured figures -->"


def write_report(path: Path, report: str) -> None:
    """Put the figures between the markers of `path`, keeping the written text around them
    (the method and the analysis); a new file is just the figures."""
    block = f"{BEGIN}\n{report}{END}\n"
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    if BEGIN in text and END in text:
        head, _, rest = text.partition(BEGIN)
        text = head + block + rest.partition(END)[2].lstrip("\n")
    else:
        text = block + text
    path.write_text(text, encoding="utf-8")


def render(
    figures: list[Figure],
    described: list[str],
    scale: Scale,
    seconds: float,
    argv: list[str] | None,
) -> str:
    command = shlex.join(["python", "-m", "bench", *(sys.argv[1:] if argv is None else argv)])
    lines = [
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by `{command}` "
        f"({scale.name} volumes, {seconds / 60:.0f} minutes).",
        "",
        *(f"- {line}" for line in described),
        "",
        table(figures),
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
