"""The audit trail's append rate with eight concurrent writers, against this machine's limit
measured in the same run: pgbench's rate for one INSERT per transaction of an event-sized row
on the same server (bench/pgbench.py), with as many clients.

Appends go through record_event (portal/audit/record.py) exactly as a request does: one event
in a transaction of its own, committed, from eight processes (as gunicorn's workers are). No
lock is shared: each transaction takes its event's number from a database sequence and writes
its row. Meanwhile the sequencer runs its passes in a process of its own, as `portal audit
sequencer` does (one every PASS_SECONDS, another at once while a batch was full), so the rate
includes its load on the same database; when the writers stop, the run counts the events still
waiting for the tree and times how long the sequencer takes to place them.

Beside the limit, the floor of any Python writer: pgbench's own INSERT, sent by eight Python
processes through psycopg and SQLAlchemy Core with no portal code, into the same scratch table.
On a small machine the writers' own CPU, not the database, sets the append rate; the floor
shows how much of the distance to pgbench is Python's and how much is the portal's.
"""

from __future__ import annotations

import multiprocessing
import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from multiprocessing.synchronize import Barrier, Event
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session, sessionmaker

from bench import pgbench
from bench.audit_trail import sequence_all
from bench.report import Figure
from portal import db
from portal.audit.actions import AuditAction
from portal.audit.record import Actor, record_event
from portal.audit.sequencer import sequence_pending, tree_size, waiting

if TYPE_CHECKING:
    from multiprocessing.queues import Queue

    from bench.stack import Bench

WRITERS = 8
GOAL_RATIO = 0.5
# How often the sequencer's leader runs a pass when the last one emptied the queue.
PASS_SECONDS = 0.2
# How long the sequencer may take to catch up before the run gives up on it.
DRAIN_TIMEOUT = 300.0


@dataclass(frozen=True)
class Appended:
    """The writers' events and their latencies, between the first's start and the last's end."""

    latencies: list[float]
    started: float
    finished: float

    @property
    def rate(self) -> float:
        return len(self.latencies) / (self.finished - self.started)

    @property
    def p95(self) -> float:
        ordered = sorted(self.latencies)
        return statistics.quantiles(ordered, n=20)[-1] if len(ordered) > 1 else ordered[0]


@dataclass(frozen=True)
class Lag:
    """Events not yet in the tree when the writers stopped, and the seconds until they were."""

    waiting: int
    seconds: float


def measure(bench: Bench) -> list[Figure]:
    sequence_all(bench.engine, _untold)  # what earlier figures recorded: the queue starts empty
    bench.progress(f"audit: pgbench, {WRITERS} clients, one INSERT per transaction")
    limit = pgbench.insert_rate(bench.engine, WRITERS, bench.scale.pgbench_seconds)
    count = bench.scale.appends_per_writer
    bench.progress(f"audit: the same INSERT from {WRITERS} Python writers, without the portal")
    with pgbench.scratch_table(bench.engine):
        with _appended_by_writers(bench.database_url, count, _insert_bare) as bare:
            pass
    bench.progress(f"audit: {WRITERS} writers appending {count} events each, the sequencer running")
    appended, lag = _append_while_sequencing(bench, count)
    ratio = appended.rate / limit
    return [
        Figure(
            f"audit append, {WRITERS} concurrent writers",
            f"{appended.rate:,.0f} events/s = {ratio:.2f} × pgbench's {limit:,.0f} inserts/s; "
            f"p95 {appended.p95 * 1000:.1f} ms",
            goal=f"≥ {GOAL_RATIO:g} × pgbench",
            met=ratio >= GOAL_RATIO,
            note=(
                "record_event, one event per commit, the sequencer running; pgbench: "
                f"{WRITERS} clients, one INSERT of an event-sized row per commit; pgbench's "
                f"INSERT sent by {WRITERS} Python processes (psycopg, SQLAlchemy Core, no "
                f"portal code): {bare.rate:,.0f}/s = {bare.rate / limit:.2f} × pgbench"
            ),
        ),
        Figure(
            f"audit sequencer, behind {WRITERS} writers",
            f"{lag.waiting:,} events waiting when they stopped, in the tree {lag.seconds:.2f} s "
            "later",
            note=f"a pass every {PASS_SECONDS:g} s (at once after a full batch), its own process",
        ),
    ]


def _append_while_sequencing(bench: Bench, count: int) -> tuple[Appended, Lag]:
    """WRITERS processes appending `count` events each through record_event while the
    sequencer runs in a process of its own; then how far behind it was."""
    context = multiprocessing.get_context("spawn")
    stop = context.Event()
    started = context.Event()
    sequencer = context.Process(target=_sequence, args=(bench.database_url, started, stop))
    sequencer.start()
    try:
        if not started.wait(timeout=120):
            raise RuntimeError("the sequencer did not start")
        with _appended_by_writers(bench.database_url, count, _append_one) as appended:
            lag = _drained(bench, appended.finished, sequencer)
    finally:
        stop.set()
        sequencer.join(timeout=30)
        if sequencer.is_alive():
            sequencer.terminate()
    return appended, lag


@contextmanager
def _appended_by_writers(url: str, count: int, append: Appender) -> Iterator[Appended]:
    """WRITERS processes, each with its own connection, which start together (once all are
    connected) and `append` `count` times each, one transaction at a time. They are joined on
    leaving (their exit takes a while: it is no part of any figure)."""
    context = multiprocessing.get_context("spawn")
    ready = context.Barrier(WRITERS + 1)
    results: Queue[tuple[float, float, list[float]]] = context.Queue()
    writers = [
        context.Process(target=_append, args=(url, count, append, ready, results))
        for _ in range(WRITERS)
    ]
    try:
        for writer in writers:
            writer.start()
        ready.wait(timeout=120)
        reports = [results.get(timeout=600) for _ in writers]
        yield Appended(
            [latency for report in reports for latency in report[2]],
            min(report[0] for report in reports),
            max(report[1] for report in reports),
        )
    finally:
        for writer in writers:
            writer.join(timeout=30)
            if writer.is_alive():
                writer.terminate()


def _drained(bench: Bench, finished: float, sequencer: BaseProcess) -> Lag:
    """How many events the running sequencer had yet to place when the writers finished, and
    how long after that the tree held them all. Both counts come from one snapshot: read
    apart, a pass committed in between would count its events twice and the target never be
    reached."""
    with Session(bench.engine) as session:
        session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        behind = waiting(session)
        target = tree_size(session) + behind
    while True:
        with Session(bench.engine) as session:
            if tree_size(session) >= target:
                return Lag(behind, max(0.0, time.perf_counter() - finished))
        if not sequencer.is_alive() or time.perf_counter() - finished > DRAIN_TIMEOUT:
            raise RuntimeError(f"the sequencer did not place the writers' {behind} events")
        time.sleep(0.01)


def _sequence(url: str, started: Event, stop: Event) -> None:
    """The sequencer's leader, as far as this figure needs it: passes, each committed, one
    every PASS_SECONDS, at once after a full batch, until told to stop."""
    engine = db.make_engine(url)
    try:
        with Session(engine) as session, session.begin():
            sequence_pending(session)  # connected, and warm, before the writers start
        started.set()
        while not stop.is_set():
            with Session(engine) as session, session.begin():
                result = sequence_pending(session)
            if not result.more:
                stop.wait(PASS_SECONDS)
    finally:
        engine.dispose()


def _append(url: str, count: int, append: Appender, ready: Barrier, results: Queue[Any]) -> None:
    """One writer: its own engine and connection, `count` appends, each committed alone."""
    engine = db.make_engine(url)
    sessions = sessionmaker(engine, expire_on_commit=False)
    actor = Actor(user_id=uuid.uuid4(), organisation_id=uuid.uuid4(), role="partner_contributor")
    with sessions() as session:
        # Connected, and SQLAlchemy's statement caches warm, before the clock starts: this
        # first append is rolled back, so it leaves no row (only a gap in the numbers).
        append(session, actor, 0)
        session.rollback()
    latencies = []
    ready.wait(timeout=120)
    started = time.perf_counter()
    for number in range(count):
        begun = time.perf_counter()
        with sessions.begin() as session:
            append(session, actor, number)
        latencies.append(time.perf_counter() - begun)
    results.put((started, time.perf_counter(), latencies))
    engine.dispose()


def _append_one(session: Session, actor: Actor, number: int) -> None:
    """What a partner opening a request records."""
    record_event(
        session,
        AuditAction.REQUEST_VIEWED,
        actor=actor,
        object_type="delegation_request",
        object_id=uuid.uuid4(),
        case_reference=f"BENCH-{number % 500:04d}",
        details={"request": f"REQ-{number:07d}", "version": 1},
    )


def _insert_bare(session: Session, _actor: Actor, _number: int) -> None:
    """pgbench's own INSERT (bench/pgbench.py), from Python: the floor of any Python writer."""
    session.connection().exec_driver_sql(pgbench.SCRIPT)


Appender = Callable[[Session, Actor, int], None]


def _untold(_placed: int) -> None:
    pass
