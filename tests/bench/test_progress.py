"""The benchmarks' generation progress (bench/progress.py): counts and a rate on one line that
rewrites itself on a terminal, and nothing at all anywhere else."""

from __future__ import annotations

import io

import pytest

from bench import progress
from bench.progress import Counter


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_the_count_and_rate_rewrite_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(progress, "REFRESH_SECONDS", 0.0)
    terminal = Terminal()
    counted = Counter("requests", 3000, terminal)
    for done in (1000, 2000, 3000, 3000):  # the last batch may be reported twice
        counted(done)
    shown = terminal.getvalue()
    assert shown.count("\r") == 3 and shown.endswith("\n") and shown.count("\n") == 1
    assert "\rrequests: 1,000 of 3,000 (" in shown
    assert "\rrequests: 3,000 of 3,000 (" in shown and "/s)\x1b[K\n" in shown


def test_on_a_terminal_the_line_is_rewritten_a_few_times_a_second_at_most() -> None:
    terminal = Terminal()
    counted = Counter("audit trail events", 10**9, terminal)
    for done in range(1, 10_000):
        counted(done)
    assert terminal.getvalue().count("\r") <= 1


def test_anywhere_but_a_terminal_it_says_nothing() -> None:
    log = io.StringIO()
    counted = Counter("cases", 200, log)
    counted(100)
    counted(200)
    assert log.getvalue() == ""
