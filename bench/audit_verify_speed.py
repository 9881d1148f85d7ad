"""Verifying the audit log with portal.audit.verify, as `portal audit verify` runs it, against
this machine's limit measured in the same run.

Full verification (`verify_log`, with the trusted keys, origin, witnesses and checkpoint
interval the command reads from the settings) over the whole log: every signed tree head
against the trusted keys, the witness store and the TSA's tokens, every sequenced event's leaf
recomputed from its columns and the tree rebuilt to every head's root. Against raw SHA-256
over the same bytes: the hashes any verifier of this tree must compute and nothing else. That
is SHA-256 of each leaf's data (0x00, then its event's canonical encoding, built from the
stored row before the clock runs) and of each of the tree's n - 1 inner nodes (0x01, left,
right), a batch of encodings in memory at a time; the run fails unless it reaches the signed
root. What verification does besides (reading each event, rebuilding its encoding, opening the
signed notes, consulting the witnesses) is what the ratio shows.

Incremental verification (`verify_since`, as `portal audit verify --since-last` runs it: from
the tree size the last intact check reached): the time for the same number of new events after
a log of N events and after a larger one (the trail grown, bench/volumes.py); it should not
grow with N (a frontier of log2(N) stored hashes is all it reads of the old tree, which the
run checks by the report's counts).

Before each check the run does the sequencer's work (`sequence_and_sign`): every event placed
in the tree, a tree head signed over it and handed to the witnesses the stack runs
(bench/stack.py), since `verify_since` starts only from a head they hold. A report that is not
intact, or a witness that did not take the head, fails the run: the figure would mean nothing.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from bench.audit_trail import sequence_all
from bench.report import Figure
from portal.audit.actions import AuditAction
from portal.audit.chain import canonical_encoding
from portal.audit.checkpoints import sign_tree_head
from portal.audit.record import NewEvent, event_fields, record_events
from portal.audit.runtime import AuditKeys, load_audit_keys
from portal.audit.verify import verify_log, verify_since
from portal.audit.verify_report import VerificationReport, summary_lines
from portal.audit.witnessing import LogKeys, Witnesses, witness_pending, witnesses_from_settings
from portal.config import load_settings
from portal.models import AuditEvent, AuditLeaf, AuditTreeHead

if TYPE_CHECKING:
    from bench.stack import Bench

GOAL_RATIO = 0.3
# Incremental verification's time after the larger log, as a multiple of the time after the
# smaller, that still counts as not growing with the log (the run is noisy; N grows 5-fold).
INCREMENTAL_GOAL = 1.5
# Events read per query while building the raw-hashing input.
READ_BATCH = 10_000


class NotVerified(RuntimeError):
    """The bench's own log failed verification, or its head was not witnessed."""


@dataclass(frozen=True)
class Verifier:
    """What `portal audit verify` reads from the settings (here the bench stack's)."""

    keys: AuditKeys
    witnesses: Witnesses
    interval: int


def full(bench: Bench) -> tuple[Figure, VerificationReport]:
    """The figure, and the report it verified (where incremental verification starts)."""
    verifier = _verifier(bench)
    sequence_and_sign(bench, verifier)
    bench.progress("audit: verifying the whole log")
    with Session(bench.engine) as session:
        started = time.perf_counter()
        report = verify_log(
            session, verifier.keys.trusted, verifier.keys.origin, verifier.witnesses,
            checkpoint_interval_seconds=verifier.interval,
        )  # fmt: skip
        seconds = time.perf_counter() - started
        _intact(report)
        head = session.get(AuditTreeHead, report.tree_size)
    if head is None:
        raise NotVerified(f"the check ended at {report.tree_size} leaves, not at a signed head")
    events = report.events_checked
    bench.progress(f"audit: raw SHA-256 over the same {events:,} leaves and their tree")
    raw, root = _raw_hashing(bench, report.tree_size)
    if root != head.root_hash:
        raise RuntimeError("raw hashing did not reach the signed root: not the same bytes")
    rate, raw_rate = events / seconds, events / raw
    ratio = rate / raw_rate
    figure = Figure(
        "audit full verification",
        f"{rate:,.0f} events/s = {ratio:.2f} × raw SHA-256 ({raw_rate:,.0f}/s)",
        goal=f"≥ {GOAL_RATIO:g} × raw",
        met=ratio >= GOAL_RATIO,
        note=(
            f"{events:,} events, {report.heads_checked} signed tree heads, "
            f"{len(report.witnessed)} witnessed (store and TSA); raw: leaf and node hashes, "
            "encodings prepared in memory"
        ),
    )
    return figure, report


@dataclass(frozen=True)
class Incremental:
    """One incremental verification: `new_events` after a verified log of `log_size`."""

    log_size: int
    new_events: int
    seconds: float
    verified: VerificationReport


def incremental(bench: Bench, verified: VerificationReport) -> Incremental:
    """Bring the verification up to the log as it is now (untimed: whatever was recorded since
    `verified`), record the scale's number of new events, sequence, sign and witness them, and
    time verifying only those."""
    verifier = _verifier(bench)
    sequence_and_sign(bench, verifier)
    verified = _verify_since(bench, verifier, verified)[0]
    count = bench.scale.incremental_events
    bench.progress(f"audit: {count:,} new events after {verified.tree_size:,}, verified alone")
    with Session(bench.engine) as session, session.begin():
        record_events(session, [_new_event(number) for number in range(count)])
    sequence_and_sign(bench, verifier)
    reached, seconds = _verify_since(bench, verifier, verified)
    return Incremental(verified.tree_size, reached.events_checked, seconds, reached)


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
        note=(
            "verify_since the last verified tree head: its frontier checked against its "
            "witnessed root, then only the new leaves read"
        ),
    )


def settle(bench: Bench) -> None:
    """The log as the running sequencer keeps it, for figures that read it (the IG search):
    every event in the tree, under a signed and witnessed head."""
    sequence_and_sign(bench, _verifier(bench))


def sequence_and_sign(bench: Bench, verifier: Verifier) -> None:
    """Every recorded event into the tree, a tree head signed over it and handed to the
    witness store and the TSA, as the sequencer does every minute."""
    signer, witnesses = verifier.keys.signer, verifier.witnesses
    if signer is None or witnesses.store is None or witnesses.tsa is None:
        raise RuntimeError("the bench stack has no audit signing key, witness store or TSA")
    sequence_all(bench.engine, _untold)
    with Session(bench.engine) as session, session.begin():
        sign_tree_head(session, signer, verifier.keys.origin)
    log_keys = LogKeys(verifier.keys.origin, verifier.keys.trusted)
    handed = witness_pending(sessionmaker(bench.engine), witnesses.store, witnesses.tsa, log_keys)
    if handed.waiting or handed.conflict or handed.unavailable:
        problem = handed.conflict or handed.unavailable
        raise NotVerified(f"{handed.waiting} tree heads not witnessed: {problem}")


def _verify_since(
    bench: Bench, verifier: Verifier, verified: VerificationReport
) -> tuple[VerificationReport, float]:
    """`verify_since` from the size `verified` reached (what --since-last reads back from the
    last intact check), timed; it must start there and read only the leaves after it."""
    with Session(bench.engine) as session:
        started = time.perf_counter()
        report = verify_since(
            session, verifier.keys.trusted, verifier.keys.origin, verifier.witnesses,
            verified.tree_size, checkpoint_interval_seconds=verifier.interval,
        )  # fmt: skip
        seconds = time.perf_counter() - started
    _intact(report)
    added = report.tree_size - verified.tree_size
    if report.from_size != verified.tree_size or report.leaves_read != added:
        raise NotVerified(
            f"verify_since from {verified.tree_size} started at {report.from_size} and read "
            f"{report.leaves_read} leaves for the {added} new ones"
        )
    return report, seconds


def _intact(report: VerificationReport) -> None:
    damage = report.damage
    if damage is not None:
        said = " ".join(summary_lines(report))
        raise NotVerified(f"the bench's log is DAMAGED ({damage.kind}): {damage.explanation} "
                          f"({said})")  # fmt: skip


def _verifier(bench: Bench) -> Verifier:
    settings = load_settings(bench.environment)
    return Verifier(
        load_audit_keys(settings),
        witnesses_from_settings(settings),
        settings.audit.checkpoint_interval_seconds,
    )


def _untold(_placed: int) -> None:
    pass


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
