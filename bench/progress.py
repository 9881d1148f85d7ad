"""Progress of the benchmarks' data generation: how many of how many so far, and the rate, on
one line that rewrites itself while standard error (where the run's progress goes) is a
terminal, at most a few times a second; nothing at all when it is not (a log file, CI), which
keeps only the run's phase lines and each part's totals (bench.stack.Bench.progress)."""

from __future__ import annotations

import sys
import time
from typing import TextIO

# How often the line is rewritten, at most.
REFRESH_SECONDS = 0.25


class Counter:
    """Call with how many are done so far; the last call (`total` done) ends the line."""

    def __init__(self, what: str, total: int, stream: TextIO | None = None) -> None:
        self.what = what
        self.total = total
        self.stream = stream if stream is not None else sys.stderr
        self.live = self.stream.isatty()
        self.began = self.shown = time.monotonic()
        self.finished = False

    def __call__(self, done: int) -> None:
        if not self.live or self.finished:
            return
        now = time.monotonic()
        finished = self.finished = done >= self.total
        if not finished and now - self.shown < REFRESH_SECONDS:
            return
        self.shown = now
        rate = done / max(now - self.began, 1e-6)
        # \r back to the line's start, ESC[K clears what a longer line left behind.
        line = f"\r{self.what}: {done:,} of {self.total:,} ({rate:,.0f}/s)\x1b[K"
        self.stream.write(line + ("\n" if finished else ""))
        self.stream.flush()
