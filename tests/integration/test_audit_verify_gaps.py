"""What a check must not take on trust from the database: an `audit_verified` record to start
an incremental check from, an empty checkpoint store, missing or out-of-order time-stamps.
Each attack is made as someone with database superuser access would, against real witnesses
(a checkpoint store in a temporary directory, the loopback TSA)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from portal.audit import AuditAction, record_event
from portal.audit.signing import CheckpointSigner
from portal.audit.verify import last_verified_size
from portal.audit.verify_report import recorded_details
from portal.audit.witnessing import Witnesses
from tests.conftest import both_backends
from tests.support.log_checks import (
    as_superuser,
    checkpoint,
    execute,
    record,
    store_witnesses,
    verify,
    verify_from,
)


@pytest.fixture(scope="module")
def signer(audit_key_path: Path) -> CheckpointSigner:
    return CheckpointSigner.load(audit_key_path)


@pytest.fixture
def witnesses(tmp_path: Path) -> Witnesses:
    return store_witnesses(tmp_path / "store")


def _forge_intact_check(session: Session, seq: int) -> None:
    """An `audit_verified` row saying intact up to a huge size, inserted around the
    application where the sequencer never places it."""
    xact = 3 if session.get_bind().dialect.name == "postgresql" else None
    execute(
        session,
        "INSERT INTO audit_events (seq, occurred_at, action, outcome, details, xact) "
        "VALUES (:seq, '2026-01-01 00:00:00', 'audit_verified', 'success', :details, :xact)",
        seq=seq,
        details=json.dumps({"intact": True, "tree_size": 10**12}),
        xact=xact,
    )


@both_backends
def test_since_last_starts_only_from_a_check_the_witnessed_tree_holds(
    db_session: Session, signer: CheckpointSigner, witnesses: Witnesses
) -> None:
    record(db_session, 4)
    checkpoint(db_session, signer, witnesses)
    report = verify(db_session, signer, witnesses)
    record_event(db_session, AuditAction.AUDIT_VERIFIED, details=recorded_details(report))
    db_session.flush()
    assert last_verified_size(db_session) == 0  # its record is not in a witnessed tree yet
    checkpoint(db_session, signer, witnesses)
    assert last_verified_size(db_session) == report.tree_size

    as_superuser(db_session)
    _forge_intact_check(db_session, 9_000_000_000)
    assert last_verified_size(db_session) == report.tree_size


def test_a_forged_intact_record_cannot_skip_damage_a_full_check_found(
    db_session: Session, signer: CheckpointSigner, witnesses: Witnesses
) -> None:
    events = record(db_session, 4)
    checkpoint(db_session, signer, witnesses)
    record(db_session, 3)
    checkpoint(db_session, signer, witnesses)
    as_superuser(db_session)
    execute(db_session, "UPDATE audit_events SET action = 'sign_out' WHERE seq = :n", n=events[1])
    full = verify(db_session, signer, witnesses)
    assert not full.intact
    record_event(db_session, AuditAction.AUDIT_VERIFIED, details=recorded_details(full))
    _forge_intact_check(db_session, 9_000_000_000)

    start = last_verified_size(db_session)
    report = verify_from(db_session, signer, witnesses, start)

    assert start == 0 and report.from_size == 0
    assert report.damage is not None and report.damage.seq == events[1]
