"""`python -m bench --smoke`: every figure of the benchmarks runs end to end on the real stack
at tiny volumes (how fast is for `make bench` on a quiet machine, never a test)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from loopback.processes import PROJECT_ROOT

FIGURES = (
    "attachment encryption",
    "attachment decryption",
    "safe copy per page, PDF",
    "safe copy per page, .docx",
    "disarm worker peak memory",
    "inbox, 2 users",
    "request page, 2 users",
    "attach 1 MB and send",
    "floor page, 2 users",
    "inbox ÷ floor",
    "request page ÷ floor",
    "attach 1 MB and send ÷ floor",
    "inbox: encryption and audit share",
    "request page: encryption and audit share",
    "attach 1 MB and send: encryption and audit share",
    "upload: worker memory growth",
    "download: worker memory growth",
    "IG search by case, 2,000 events",
    "IG search by person, 4,000 events",
    "IG search by date range, 4,000 events",
    "audit append, 8 concurrent writers",
    "audit sequencer, behind 8 writers",
    "audit full verification",
    "connector drain, 1 worker",
    "connector drain, 4 workers",
    "pilot figures, all organisations, 25 months",
    "pilot figures, all organisations, 12 months",
    "pilot figures, busiest organisation, 12 months",
    "inbox at a busy partner, p95",
    "my requests, 60 requests in the team, 2 users",
    "my requests ÷ floor",
    "my requests: encryption and audit share",
    "audit incremental verification",
)

_AFTER = r"[\d,]+ ms after [\d,]+"
# (a part of a row's name, how that row's measurement reads)
WORDING = (
    ("÷ floor", r"throughput \d+\.\d\d \(.*\); CPU/request \d+\.\d ×"),
    ("safe copy per page", r"\d+ ms = \d+\.\d × .* alone \(\d+ ms\)"),
    ("disarm worker peak memory", r"\d+ MiB = \d\.\d\d × its limit \(\d+ MiB\)"),
    ("pilot figures", r"\d+ ms = \d+\.\d × one pass over the requests"),
    ("inbox at a busy partner", r"p95 \d+ ms = \d+\.\d × the floor's p95 \(\d+ ms\)"),
    ("inbox at a busy partner", r"[\d,]+ requests at one partner"),
    ("encryption and audit share", r"encryption \d+\.\d% \(seal .*\); audit \d+\.\d%"),
    ("audit append", r"[\d,]+ events/s = \d+\.\d\d × pgbench's [\d,]+ inserts/s"),
    ("audit sequencer", r"[\d,]+ events waiting when they stopped, in the tree \d+\.\d\d s"),
    ("audit full verification", r"[\d,]+ events/s = \d+\.\d\d × raw SHA-256"),
    ("audit incremental", rf"\d+ new events: {_AFTER}, {_AFTER} \(\d+\.\d\d × the time"),
)


def test_every_figure_is_measured_and_reported(tmp_path: Path) -> None:
    report = tmp_path / "benchmarks.md"
    finished = subprocess.run(  # noqa: S603 - the project's own command
        [sys.executable, "-m", "bench", "--smoke", "--output", str(report)]
        + ["--directory", str(tmp_path / "run")],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert finished.returncode == 0, finished.stderr[-5000:]
    written = report.read_text(encoding="utf-8")
    for figure in FIGURES:
        assert figure in finished.stdout, (figure, finished.stdout)
        assert figure in written
    # The figures say what they measured, in their own words (never how fast is tested).
    for line in finished.stdout.splitlines():
        for marker, wording in WORDING:
            if marker in line:
                assert re.search(wording, line), line
    assert "python -m bench --smoke" in written
    assert "CPU:" in written and "PostgreSQL" in written
    # Each phase is announced on standard error as it starts; the generation's running counts
    # are for a terminal only (bench/progress.py), and this is not one.
    assert "[bench" in finished.stderr
    assert "audit trail events:" not in finished.stderr and "cases:" not in finished.stderr
