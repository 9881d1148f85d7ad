"""Verifying the audit log, against this machine's limit measured in the same run.

Full verification (bench/audit_verifying.py, as `portal audit verify` runs it) over the whole
log, against raw SHA-256 over the same bytes: the hashes any verifier of this tree must compute
and nothing else. That is SHA-256 of each leaf's data (0x00, then its event's canonical
encoding, built from the stored row before the clock runs) and of each of the tree's n - 1
inner nodes (0x01, left, right), a batch of encodings in memory at a time; the run fails unless
it reaches the signed root. What verification does besides (reading each event, rebuilding its
encoding, opening each signed note, and with verify_log the witnesses) is what the ratio shows.

Incremental verification since the last verified tree head: the time for the same number of
new events after a log of N events and after a larger one (the trail grown, bench/volumes.py);
it should not grow with N (a frontier of log2(N) stored hashes is all it reads of the old tree).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Session

from bench.audit_verifying import Verified, sequence_and_sign, verify_full, verify_since
from bench.report import Figure
from portal.audit.actions import AuditAction
from portal.audit.chain import canonical_encoding
from portal.audit.record import NewEvent, event_fields, record_events
from portal.audit.runtime import AuditKeys, load_audit_keys
from portal.config import load_settings
from portal.models import AuditEvent, AuditLeaf

if TYPE_CHECKING:
    from bench.stack import Bench

GOAL_RATIO = 0.3
# Incremental verification's time after the larger log, as a multiple of the time after the
# smaller, that still counts as not growing with the log (the run is noisy; N grows 5-fold).
INCREMENTAL_GOAL = 1.5
# Events read per query while building the raw-hashing input.
READ_BATCH = 10_000


def full(bench: Bench) -> tuple[Figure, Verified]:
    """The figure, and the head it verified (where incremental verification starts)."""
    keys = _keys(bench)
    sequence_and_sign(bench.engine, keys)
    bench.progress("audit: verifying the whole log")
    with Session(bench.engine) as session:
        started = time.perf_counter()
        verified = verify_full(session, keys)
        seconds = time.perf_counter() - started
    events = verified.leaves_checked
    bench.progress(f"audit: raw SHA-256 over the same {events:,} leaves and their tree")
    raw, root = _raw_hashing(bench, verified.tree_size)
    if root != verified.root:
        raise RuntimeError("raw hashing did not reach the signed root: not the same bytes")
    rate, raw_rate = events / seconds, events / raw
    ratio = rate / raw_rate
    figure = Figure(
        "audit full verification",
        f"{rate:,.0f} events/s = {ratio:.2f} × raw SHA-256 ({raw_rate:,.0f}/s)",
        goal=f"≥ {GOAL_RATIO:g} × raw",
        met=ratio >= GOAL_RATIO,
        note=(
            f"{events:,} events, {verified.heads_checked} signed tree heads; raw: leaf and node "
            "hashes, encodings prepared in memory"
        ),
    )
    return figure, verified


@dataclass(frozen=True)
class Incremental:
    """One incremental verification: `new_events` after a verified log of `log_size`."""

    log_size: int
    new_events: int
    seconds: float
    verified: Verified


def incremental(bench: Bench, verified: Verified) -> Incremental:
    """Bring the verification up to the log as it is now (untimed: whatever was recorded since
    `verified`), record the scale's number of new events, sequence and sign them, and time
    verifying only those."""
    keys = _keys(bench)
    sequence_and_sign(bench.engine, keys)
    with Session(bench.engine) as session:
        verified = verify_since(session, keys, verified)
    count = bench.scale.incremental_events
    bench.progress(f"audit: {count:,} new events after {verified.tree_size:,}, verified alone")
    with Session(bench.engine) as session, session.begin():
        record_events(session, [_new_event(number) for number in range(count)])
    sequence_and_sign(bench.engine, keys)
    with Session(bench.engine) as session:
        started = time.perf_counter()
        reached = verify_since(session, keys, verified)
        seconds = time.perf_counter() - started
    return Incremental(verified.tree_size, reached.leaves_checked, seconds, reached)


def incremental_figure(smaller: Incremental, larger: Incremental) -> Figure:
    """The two incremental verifications side by side: the same new events, two log sizes."""
    ratio = larger.seconds / smaller.seconds
    grown = larger.log_size / smaller.log_size
    return Figure(
        "audit incremental verification",
        f"{smaller.new_events:,} new events: {smaller.seconds * 1000:,.0f} ms after "
        f"{smaller.log_size:,}, {larger.seconds * 1000:,.0f} ms after {larger.log_size:,} "
        f"({ratio:.2f} × the time for {grown:.1f} × the log)",
        goal=f"≤ {INCREMENTAL_GOAL:g} × the time",
        met=ratio <= INCREMENTAL_GOAL and larger.new_events == smaller.new_events,
        note="since the last verified tree head: its frontier checked, then the new leaves only",
    )


def _keys(bench: Bench) -> AuditKeys:
    return load_audit_keys(load_settings(bench.environment))


def _new_event(number: int) -> NewEvent:
    return NewEvent(
        AuditAction.REQUEST_VIEWED,
        object_type="delegation_request",
        object_id=f"REQ-{number:07d}",
        case_reference=f"BENCH-{number % 500:04d}",
        details={"request": f"REQ-{number:07d}", "version": 1},
    )


def _raw_hashing(bench: Bench, size: int) -> tuple[float, bytes]:
    """SHA-256 of the first `size` leaves and of the tree over them, with plain hashlib; returns
    the seconds the hashing took and the root. Each batch's leaf data is built before the clock
    runs, so only hashing is timed and memory stays at one batch."""
    sha256, leaf_prefix, node_prefix = hashlib.sha256, b"\x00", b"\x01"
    seconds, count, right_edge = 0.0, 0, list[bytes]()
    for encodings in _encodings(bench, size):
        started = time.perf_counter()
        for data in encodings:
            node = sha256(leaf_prefix + data).digest()
            carry = count
            while carry & 1:  # each completed perfect subtree: one inner node
                node = sha256(node_prefix + right_edge.pop() + node).digest()
                carry >>= 1
            right_edge.append(node)
            count += 1
        seconds += time.perf_counter() - started
    started = time.perf_counter()
    root = right_edge.pop() if right_edge else hashlib.sha256(b"").digest()
    while right_edge:  # the last inner nodes: the right edge folded into the root
        root = sha256(node_prefix + right_edge.pop() + root).digest()
    return seconds + time.perf_counter() - started, root


def _encodings(bench: Bench, size: int) -> Iterator[list[bytes]]:
    """The canonical encoding of each of the first `size` leaves' events, in the tree's order,
    READ_BATCH at a time."""
    events, leaves = AuditEvent.__table__, AuditLeaf.__table__
    after = -1
    with bench.engine.connect() as connection:
        while after + 1 < size:
            batch = connection.execute(
                sa.select(leaves.c.leaf_index, events)
                .join(events, events.c.seq == leaves.c.event_seq)
                .where(leaves.c.leaf_index > after, leaves.c.leaf_index < size)
                .order_by(leaves.c.leaf_index)
                .limit(READ_BATCH)
            ).all()
            if not batch:
                return
            yield [canonical_encoding(event_fields(row)) for row in batch]
            after = batch[-1].leaf_index
