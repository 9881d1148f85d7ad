"""Realistic volumes for the benchmarks: the council and its partner organisations with their
people, cases with sealed children, delegation requests in every state (bench/casework.py)
and the audit trail with its Merkle tree (bench/audit_trail.py), in a freshly migrated database,
and what the figures need to pick realistic targets among them."""

from __future__ import annotations

import random
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import psycopg
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from bench import audit_trail, casework, organisations
from bench.answers import Answers
from bench.bulk import Sealer, Writer
from bench.progress import Counter
from bench.scale import Scale
from portal.crypto import Keyring
from portal.crypto.records import RecordCipher

HISTORY = timedelta(days=casework.HISTORY_DAYS)


class Target(Protocol):
    """What generating needs of a benchmark run (bench.stack.Bench is one)."""

    @property
    def scale(self) -> Scale: ...

    @property
    def engine(self) -> Engine: ...

    @property
    def keyring(self) -> Keyring: ...

    def progress(self, message: str) -> None: ...


@dataclass
class Volumes:
    """What was generated: rows per table, and seconds per part. (Who the simulated people
    are and what they open is chosen from the data itself: bench/targets.py.)"""

    counts: dict[str, int]
    seconds: dict[str, float]


def generate(bench: Target) -> Volumes:
    """Everything but the audit trail's later growth (grow_audit_trail)."""
    scale, now, rng = bench.scale, datetime.now(UTC), random.Random(9)  # noqa: S311 - test data
    seconds = {}
    began = time.monotonic()
    with Session(bench.engine) as session, session.begin():
        teams, partners = organisations.create(
            session, RecordCipher(bench.keyring, session), scale, rng
        )
    seconds["organisations and people"] = time.monotonic() - began
    with psycopg.connect(_conninfo(bench.engine)) as connection:
        began = time.monotonic()
        counts = _casework(bench, connection, rng, teams, partners, now)
        seconds["cases and requests"] = time.monotonic() - began
        began = time.monotonic()
        # Two years up to a week ago: the week is where grow_audit_trail's events go.
        start, end = now - HISTORY, now - timedelta(days=7)
        count = scale.audit_events - _events(connection)
        counted = Counter("audit trail events", count)
        audit_trail.append_events(connection, count, start, end, counted, rng)
        audit_trail.sequence_all(bench.engine, Counter("audit events sequenced", count))
        seconds["audit trail"] = time.monotonic() - began
        connection.execute("ANALYZE")
        connection.commit()
        counts |= _counts(connection)
    volumes = Volumes(counts, seconds)
    made = ", ".join(f"{count:,} {table}" for table, count in counts.items())
    bench.progress(f"generated {made} in {sum(seconds.values()):.0f}s")
    return volumes


def grow_audit_trail(bench: Target, total: int) -> None:
    """Append events until the trail holds `total`, and sequence them: their times spread from
    the trail's last event to now."""
    rng = random.Random(total)  # noqa: S311 - test data
    with psycopg.connect(_conninfo(bench.engine)) as connection:
        now = datetime.now(UTC)
        count = total - _events(connection)
        counted = Counter("audit trail events", count)
        audit_trail.append_events(connection, count, now - HISTORY, now, counted, rng)
        audit_trail.sequence_all(bench.engine, Counter("audit events sequenced", count))
        connection.execute("ANALYZE audit_events, audit_leaves")
        connection.commit()


def _conninfo(engine: Engine) -> str:
    return engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


def _events(connection: psycopg.Connection[Any]) -> int:
    row = connection.execute("SELECT count(*) FROM audit_events").fetchone()
    return int(row[0]) if row else 0


def _counts(connection: psycopg.Connection[Any]) -> dict[str, int]:
    tables = ["organisations", "users", "cases", "children", "delegation_requests"]
    tables += ["contributions", "reviews", "outbox", "data_keys", "audit_events"]
    counts = {}
    for table in tables:
        row = connection.execute(f"SELECT count(*) FROM {table}").fetchone()  # noqa: S608
        counts[table] = int(row[0]) if row else 0
    return counts


def _casework(
    bench: Target,
    connection: psycopg.Connection[Any],
    rng: random.Random,
    teams: dict[uuid.UUID, tuple[uuid.UUID, ...]],
    partners: list[casework.Partner],
    now: datetime,
) -> dict[str, int]:
    scale, sealer = bench.scale, Sealer(bench.keyring)
    times = casework.issue_times(rng, scale.requests, now)
    of_case = [rng.randrange(scale.cases) for _ in times]
    # A case is copied from the CMS just before its first request (or at some time if none).
    opened = [
        now - rng.uniform(1, casework.HISTORY_DAYS) * casework.DAY for _ in range(scale.cases)
    ]
    for issued_at, number in zip(times, of_case, strict=True):
        opened[number] = min(opened[number], issued_at - timedelta(hours=rng.uniform(1, 48)))
    writer = Writer(connection, sealer, "cases", "children")
    cases = casework.write_cases(writer, rng, teams, opened, Counter("cases", scale.cases))
    counts = writer.counts
    tables = ("delegation_requests", "request_children", "contributions", "reviews", "outbox")
    writer = Writer(connection, sealer, *tables)
    chosen = rng.choices(partners, [partner.weight for partner in partners], k=len(times))
    plan = [(t, cases[n], p) for t, n, p in zip(times, of_case, chosen, strict=True)]
    casework.write_requests(writer, rng, Answers(), plan, now, Counter("requests", scale.requests))
    return {
        **counts,
        **writer.counts,
        "data_keys": counts["data_keys"] + writer.counts["data_keys"],
    }
