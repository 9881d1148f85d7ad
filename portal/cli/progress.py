"""How a long `portal` command shows it is getting on: one line on stderr with the count so
far, of how many, and the rate, redrawn at most ten times a second; and nothing at all when
stderr is not a terminal (a pipe, a log file, the systemd journal), where the command's own
summary is what should stay. The commands' work reports counts through a plain callback, so
nothing outside the CLI knows about terminals.

The project's own few lines rather than tqdm or rich: click (already here) draws a bar but
shows no rate and still prints its label when piped; tqdm or rich would be a new dependency,
in both lock files, for what these few lines do (docs/operations.md).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from types import TracebackType
from typing import TextIO

import click

REDRAW_SECONDS = 0.1
_CLEAR_LINE = "\r\x1b[K"


class Progress:
    """`with Progress("Checking the audit chain", total, "events") as progress:` then
    `progress.update(done)` or `progress.advance()`; `progress.note(line)` prints a line of
    the command's own output above it."""

    def __init__(
        self,
        label: str,
        total: int | None = None,
        unit: str = "",
        *,
        stream: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.label, self.total, self.unit = label, total, unit
        self.stream = stream if stream is not None else sys.stderr
        self.shown = self.stream.isatty()
        self.done = 0
        self._clock = clock
        self._started = clock()
        self._drawn_at: float | None = None

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        _error: BaseException | None,
        _trace: TracebackType | None,
    ) -> None:
        self.close()

    def update(self, done: int, total: int | None = None) -> None:
        """`done` so far (and, when it has changed, of how many)."""
        self.done = done
        if total is not None:
            self.total = total
        if self.shown:
            now = self._clock()
            if self._drawn_at is None or now - self._drawn_at >= REDRAW_SECONDS:
                self._draw(now)

    def advance(self, count: int = 1) -> None:
        self.update(self.done + count)

    def note(self, line: str) -> None:
        """A line of output that stays (on stdout), with the progress line redrawn below."""
        if self.shown and self._drawn_at is not None:
            self.stream.write(_CLEAR_LINE)
            self.stream.flush()
        click.echo(line)
        if self.shown and self._drawn_at is not None:
            self._draw(self._clock())

    def close(self) -> None:
        """The last count drawn, and the line ended; nothing if nothing was drawn."""
        if self.shown and self._drawn_at is not None:
            self._draw(self._clock())
            self.stream.write("\n")
            self.stream.flush()
            self._drawn_at = None

    def line(self, now: float) -> str:
        count = f"{self.done:,}"
        if self.total:
            count += f" of {self.total:,}"
        if self.unit:
            count += f" {self.unit}"
        if self.total:
            count += f" ({min(self.done / self.total, 1):.0%})"
        elapsed = now - self._started
        rate = f", {self.done / elapsed:,.0f} a second" if elapsed > 0 else ""
        return f"{self.label}: {count}{rate}"

    def _draw(self, now: float) -> None:
        self.stream.write(_CLEAR_LINE + self.line(now))
        self.stream.flush()
        self._drawn_at = now
