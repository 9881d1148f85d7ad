"""An export of 10,000 events, each with its inclusion proof, from a real trail whose tree head
the loopback TSA witnessed, on PostgreSQL and SQLite: its size per event stays small, the
memory it takes while written stays bounded (tracemalloc; the ZIP spooled to disk past a small
threshold), and it checks offline with the published key and the TSA's root."""

from __future__ import annotations

import time
import tracemalloc
import zipfile
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from loopback.tsa import LoopbackTsa
from portal.audit import AuditAction, export
from portal.audit.export import LogIdentity, export_zip
from portal.audit.export_proofs import ProofFailed
from portal.audit.export_scope import covering_head
from portal.audit.export_verify import verify_export
from portal.audit.record import NewEvent, record_events
from portal.audit.signing import CheckpointSigner
from portal.models import AuditEvent
from tests.conftest import both_backends
from tests.support.audit_export import witnessed_head
from tests.support.audit_log import TEST_ORIGIN

EVENTS = 10_000
# Rows and proofs of one batch (2,000 events), and the CSV's text buffer: the spools go to
# disk past SPOOL_BYTES, so this does not grow with the export.
PEAK_LIMIT = 12 * 1024 * 1024


def many_events(db_session: Session, count: int) -> None:
    for start in range(0, count, 1000):
        record_events(
            db_session,
            [
                NewEvent(AuditAction.SIGN_IN, case_reference=f"NCC-{n}", details={"n": n})
                for n in range(start, min(start + 1000, count))
            ],
        )
    db_session.commit()


@both_backends
def test_an_export_of_ten_thousand_events_is_small_bounded_and_checks(
    db_session: Session,
    audit_key_path: Path,
    tsa: LoopbackTsa,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    signer = CheckpointSigner.load(audit_key_path)
    many_events(db_session, EVENTS)
    witnessed_head(db_session, signer, tsa, tmp_path)
    covering = covering_head(db_session)
    assert covering is not None and covering.witnessed
    monkeypatch.setattr(export, "SPOOL_BYTES", 256 * 1024)  # spool to disk early
    log = LogIdentity(TEST_ORIGIN, signer.public, tsa.trust_roots_pem.decode())
    matches = AuditEvent.action == AuditAction.SIGN_IN.value

    started = time.perf_counter()
    tracemalloc.start()
    try:
        archive, summary = export_zip(db_session, matches, {"action": "sign_in"}, covering, log)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    took = time.perf_counter() - started

    assert summary.proven >= EVENTS and summary.waiting == 0
    size = archive.seek(0, 2)
    archive.seek(0)
    with zipfile.ZipFile(archive) as opened:
        evidence = opened.getinfo("evidence.jsonl").file_size
        csv = opened.getinfo("events.csv").file_size
    print(  # the figures docs/audit.md quotes (pytest -s)
        f"\n{db_session.get_bind().dialect.name}: {summary.proven} events in a tree of "
        f"{summary.tree_size}: ZIP {size / 1e6:.2f} MB (evidence {evidence / 1e6:.2f} MB, CSV "
        f"{csv / 1e6:.2f} MB uncompressed), peak {peak / 1e6:.1f} MB, {took:.1f} s (traced)"
    )
    assert size < 1000 * EVENTS  # under a kilobyte an event, compressed
    assert peak < PEAK_LIMIT, peak
    archive.seek(0)
    with archive:
        verdict = verify_export(archive, [signer.public], tsa.trust_roots_pem)
    assert verdict.intact and verdict.events == summary.proven, verdict.message
    assert verdict.key_was_supplied and verdict.tsa_was_supplied
    assert verdict.stamped_at is not None


def test_a_stored_event_altered_after_its_head_stops_the_export(
    db_session: Session, audit_key_path: Path, tsa: LoopbackTsa, tmp_path: Path
) -> None:
    """The export checks each proof before writing it: evidence that would not verify is never
    handed out."""
    signer = CheckpointSigner.load(audit_key_path)
    many_events(db_session, 10)
    witnessed_head(db_session, signer, tsa, tmp_path)
    covering = covering_head(db_session)
    assert covering is not None
    seq = db_session.scalar(sa.select(sa.func.max(AuditEvent.seq)))
    db_session.execute(sa.text("SET LOCAL session_replication_role = replica"))
    db_session.execute(
        sa.text("UPDATE audit_events SET case_reference = 'NCC-X' WHERE seq = :seq"), {"seq": seq}
    )
    db_session.execute(sa.text("SET LOCAL session_replication_role = origin"))
    log = LogIdentity(TEST_ORIGIN, signer.public, None)
    with pytest.raises(ProofFailed, match=f"Event {seq} .* does not match the signed"):
        export_zip(db_session, AuditEvent.seq == seq, {}, covering, log)
