"""The CLI's progress line (portal/cli/progress.py): counts, a share and a rate on a terminal,
redrawn at most ten times a second; nothing where the output is not a terminal. A real pty
stands for the terminal; the clock is the test's, so the rate is exact."""

from __future__ import annotations

import io
import os
import pty
import select
from collections.abc import Iterator

import pytest

from portal.cli.progress import Progress


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def terminal() -> Iterator[tuple[io.TextIOWrapper, int]]:
    """The writing end of a pty (a terminal, as isatty says) and the reading end."""
    reader, writer = pty.openpty()
    stream = open(writer, "w", encoding="utf-8")  # closed below
    yield stream, reader
    stream.close()
    os.close(reader)


def shown(reader: int) -> str:
    """Everything written to the terminal so far: a pty hands it over in pieces, so read until
    nothing more arrives for a moment (one read can return only the first piece)."""
    received = b""
    while select.select([reader], [], [], 0.2)[0]:
        piece = os.read(reader, 65536)
        if not piece:
            break
        received += piece
    return received.decode()


def test_counts_share_and_rate_on_a_terminal(terminal: tuple[io.TextIOWrapper, int]) -> None:
    stream, reader = terminal
    clock = Clock()
    progress = Progress("Checking", 10_000, "events", stream=stream, clock=clock)
    clock.now += 2
    progress.update(2_000)
    assert "Checking: 2,000 of 10,000 events (20%), 1,000 a second" in shown(reader)
    clock.now += 0.05  # within a tenth of a second of the last: not redrawn
    progress.update(2_100)
    clock.now += 0.05
    progress.update(2_200)
    clock.now += 2
    progress.close()
    last = shown(reader)
    assert "2,100" not in last and "2,200 of 10,000 events (22%)" in last
    assert last.endswith("\n")


def test_a_line_of_output_goes_above_the_progress(
    terminal: tuple[io.TextIOWrapper, int], capsys: pytest.CaptureFixture[str]
) -> None:
    stream, reader = terminal
    clock = Clock()
    with Progress("Retention", 3, "requests", stream=stream, clock=clock) as progress:
        clock.now += 1
        progress.advance()
        progress.note("shredded DR-1")
    assert capsys.readouterr().out == "shredded DR-1\n"
    drawn = shown(reader)
    assert drawn.count("Retention: 1 of 3 requests (33%), 1 a second") >= 2  # redrawn below


def test_nothing_when_not_on_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    piped = io.StringIO()
    with Progress("Checking", 10, "events", stream=piped) as progress:
        progress.update(5)
        progress.note("a line that stays")
    assert piped.getvalue() == ""
    assert capsys.readouterr().out == "a line that stays\n"
