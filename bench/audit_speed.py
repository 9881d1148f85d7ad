"""The audit trail's two speeds: appending with eight concurrent writers, and verifying the
whole trail against raw SHA-256 over the same bytes.

Appends go through record_event (portal/audit/record.py) exactly as a request does: one event
in a transaction of its own, committed. They are serialised by the chain's advisory lock,
which record_event takes and PostgreSQL holds until the commit, so the rate is one writer's
lock-to-commit time inverted, whatever the number of writers.

Verification runs verify_trail (portal/audit/verify.py) as `portal audit verify` does, with the
run's trusted checkpoint keys, over every event in the database. "Raw" is the least any
verifier must do: SHA-256 of each event's canonical encoding, then the chain link, with the
encodings already built in memory, so it times hashing and nothing else.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import statistics
import time
import uuid
from collections.abc import Iterator
from multiprocessing.synchronize import Barrier
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from bench.report import Figure
from portal import db
from portal.audit.actions import AuditAction
from portal.audit.chain import GENESIS_HASH, canonical_encoding
from portal.audit.checkpoints import sign_checkpoint
from portal.audit.record import Actor, event_fields, record_event
from portal.audit.runtime import load_audit_keys
from portal.audit.verify import verify_trail
from portal.config import load_settings
from portal.models import AuditEvent

if TYPE_CHECKING:
    from multiprocessing.queues import Queue

    from bench.stack import Bench

WRITERS = 8
GOAL_RATIO = 0.3
# Events read per query while building the raw-hashing input.
READ_BATCH = 10_000


def measure(bench: Bench) -> list[Figure]:
    return [append_rate(bench), *verification_rate(bench)]


def append_rate(bench: Bench) -> Figure:
    """WRITERS processes (as gunicorn's workers are), each with its own connection, start
    together and append their events one transaction at a time."""
    count = bench.scale.appends_per_writer
    bench.progress(f"audit: {WRITERS} writers appending {count} events each")
    context = multiprocessing.get_context("spawn")
    ready = context.Barrier(WRITERS + 1)
    results: Queue[tuple[float, float, list[float]]] = context.Queue()
    writers = [
        context.Process(target=_append, args=(bench.database_url, count, ready, results))
        for _ in range(WRITERS)
    ]
    for writer in writers:
        writer.start()
    try:
        ready.wait(timeout=120)
        reports = [results.get(timeout=600) for _ in writers]
    finally:
        for writer in writers:
            writer.join(timeout=30)
            if writer.is_alive():
                writer.terminate()
    started = min(report[0] for report in reports)
    finished = max(report[1] for report in reports)
    latencies = sorted(latency for report in reports for latency in report[2])
    rate = len(latencies) / (finished - started)
    p95 = statistics.quantiles(latencies, n=20)[-1] if len(latencies) > 1 else latencies[0]
    return Figure(
        f"audit append, {WRITERS} concurrent writers",
        f"{rate:,.0f} events/s, p95 {p95 * 1000:.1f} ms",
        note="one event per committed transaction; serialised by the chain's advisory lock",
    )


def _append(url: str, count: int, ready: Barrier, results: Queue[Any]) -> None:
    """One writer: its own engine and connection, `count` events, each committed alone."""
    engine = db.make_engine(url)
    sessions = sessionmaker(engine, expire_on_commit=False)
    actor = Actor(user_id=uuid.uuid4(), organisation_id=uuid.uuid4(), role="partner_contributor")
    with sessions() as session:
        # Connected, and SQLAlchemy's statement caches warm, before the clock starts: this
        # first append is rolled back, so it leaves no event.
        _append_one(session, actor, 0)
        session.rollback()
    latencies = []
    ready.wait(timeout=120)
    started = time.perf_counter()
    for number in range(count):
        begun = time.perf_counter()
        with sessions.begin() as session:
            _append_one(session, actor, number)
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


def verification_rate(bench: Bench) -> list[Figure]:
    settings = load_settings(bench.environment)
    keys = load_audit_keys(settings)
    if keys.signer is not None:
        # As `portal audit checkpoint` does every few minutes: the newest events are then
        # covered by a signature the verifier checks too.
        with Session(bench.engine) as session, session.begin():
            sign_checkpoint(session, keys.signer)
    bench.progress("audit: verifying the whole trail")
    with Session(bench.engine) as session:
        started = time.perf_counter()
        report = verify_trail(session, keys.trusted)
        verified = time.perf_counter() - started
    if not report.intact:
        raise RuntimeError(f"the bench trail does not verify: {report.damage}")
    events = report.events_checked
    bench.progress(f"audit: raw SHA-256 over the same {events:,} events' encodings")
    raw, head = _raw_hashing(bench)
    if head != _head_hash(bench):
        raise RuntimeError("raw hashing did not reproduce the chain: not the same bytes")
    verifier_rate, raw_rate = events / verified, events / raw
    ratio = verifier_rate / raw_rate
    return [
        Figure(
            "audit verification",
            f"{verifier_rate:,.0f} events/s = {ratio:.2f} × raw SHA-256 ({raw_rate:,.0f}/s)",
            goal=f"≥ {GOAL_RATIO:g} × raw",
            met=ratio >= GOAL_RATIO,
            note=(
                f"{events:,} events, {report.checkpoints_checked} signed checkpoints; raw: "
                "digest + link over encodings prepared in memory"
            ),
        )
    ]


def _raw_hashing(bench: Bench) -> tuple[float, bytes]:
    """Hash every event's canonical encoding and link the chain; returns the seconds the
    hashing took and the head hash it reached. The encodings of each batch are built before
    the clock runs, so only hashing is timed and memory stays at one batch."""
    sha256 = hashlib.sha256
    seconds, previous = 0.0, GENESIS_HASH
    for encodings in _encodings(bench):
        started = time.perf_counter()
        for encoding in encodings:
            previous = sha256(previous + sha256(encoding).digest()).digest()
        seconds += time.perf_counter() - started
    return seconds, previous


def _head_hash(bench: Bench) -> bytes:
    with Session(bench.engine) as session:
        head = session.scalar(sa.select(AuditEvent.hash).order_by(AuditEvent.seq.desc()).limit(1))
    return head or GENESIS_HASH


def _encodings(bench: Bench) -> Iterator[list[bytes]]:
    """Each event's canonical encoding, as the chain defines it, READ_BATCH events at a time."""
    table = AuditEvent.__table__
    after = 0
    with bench.engine.connect() as connection:
        while True:
            batch = connection.execute(
                sa.select(table).where(table.c.seq > after).order_by(table.c.seq).limit(READ_BATCH)
            ).all()
            if not batch:
                return
            yield [canonical_encoding(event_fields(row)) for row in batch]
            after = batch[-1].seq
