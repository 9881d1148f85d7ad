"""The IG officer's audit search, timed page by page (the whole answer: query, page render,
the search's own audit event) by case, by person and by date range, one request at a time."""

from __future__ import annotations

import statistics
import time
import uuid
from datetime import date

import requests

from bench.report import Figure
from bench.sessions import COOKIE, signed_in
from bench.stack import Bench

GOAL_MS = 100


def measure(
    bench: Bench,
    officer: uuid.UUID,
    cases: list[str],
    people: list[uuid.UUID],
    days: list[tuple[date, date]],
    events: str,
) -> list[Figure]:
    """`events` names the trail's size in the figures' names, e.g. "1M events"."""
    http = requests.Session()
    http.cookies.set(COOKIE, signed_in(bench.engine, [officer])[officer])
    searches: dict[str, list[dict[str, object]]] = {
        "by case": [{"case_reference": case} for case in cases],
        "by person": [{"person": str(person)} for person in people],
        "by date range": [
            {"date_from": _day(first), "date_to": _day(last)} for first, last in days
        ],
    }
    figures = []
    for kind, queries in searches.items():
        timings = [_timed(bench, http, query) for query in queries]
        p95 = _p95(timings[len(timings) // 10 :])  # the first tenth warms the caches
        figures.append(
            Figure(
                f"IG search {kind}, {events}",
                f"p95 {p95:.0f} ms (p50 {statistics.median(timings):.0f})",
                f"p95 < {GOAL_MS} ms",
                p95 < GOAL_MS,
                f"{len(timings)} searches, first page of results",
            )
        )
    return figures


def _timed(bench: Bench, http: requests.Session, query: dict[str, object]) -> float:
    started = time.perf_counter()
    answer = http.get(f"{bench.portal_url}/audit", params=query, timeout=60)  # type: ignore[arg-type]
    elapsed = (time.perf_counter() - started) * 1000
    if answer.status_code != 200 or "There is a problem" in answer.text:
        raise RuntimeError(f"the audit search {query} failed: {answer.status_code}")
    return elapsed


def _p95(timings: list[float]) -> float:
    return (
        statistics.quantiles(timings, n=20, method="inclusive")[-1]
        if len(timings) > 1
        else timings[0]
    )


def _day(day: date) -> list[str]:
    return [str(day.day), str(day.month), str(day.year)]
