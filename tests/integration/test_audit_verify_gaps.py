"""What a check must not take on trust from the database: an `audit_verified` record to start
an incremental check from, an empty checkpoint store, missing or out-of-order time-stamps.
Each attack is made as someone with database superuser access would, against real witnesses
(a checkpoint store in a temporary directory, the loopback TSA)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from loopback.tsa import LoopbackTsa
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
    tsa_witnesses,
    verify,
    verify_from,
    witness,
)


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


def _backdate_heads(session: Session, minutes: int) -> None:
    execute(
        session,
        "UPDATE audit_tree_heads SET signed_at = :t",
        t=datetime.now(UTC) - timedelta(minutes=minutes),
    )


@both_backends
def test_an_empty_store_while_old_checkpoints_exist_is_witness_damage(
    db_session: Session, signer: CheckpointSigner, witnesses: Witnesses, tmp_path: Path
) -> None:
    """As if the store's volume were not mounted: a directory, readable and empty."""
    record(db_session, 4)
    checkpoint(db_session, signer, witnesses)
    record(db_session, 4)
    checkpoint(db_session, signer, witnesses)
    unmounted = store_witnesses(tmp_path / "mountpoint")
    as_superuser(db_session)
    execute(db_session, "DELETE FROM audit_witness_records")

    fresh = verify(db_session, signer, unmounted)
    assert fresh.intact and fresh.witnessed == []  # just signed: not yet due at the store

    _backdate_heads(db_session, 2 + 5 + 1)  # two 60 s intervals and the grace, passed
    old = verify(db_session, signer, unmounted, interval=60)
    assert old.damage is not None and old.damage.kind == "witness"
    assert "holds none of the 2 checkpoints" in old.damage.explanation


def _tsa_log(session: Session, signer: CheckpointSigner, witnesses: Witnesses) -> tuple[int, int]:
    record(session, 3)
    first = checkpoint(session, signer, witnesses)
    record(session, 3)
    second = checkpoint(session, signer, witnesses)
    assert verify(session, signer, witnesses).intact
    return first, second


@pytest.mark.parametrize("then", ["left out", "stamped again"])
def test_a_deleted_time_stamp_is_witness_damage(
    db_session: Session, signer: CheckpointSigner, tmp_path: Path, tsa: LoopbackTsa, then: str
) -> None:
    witnesses = tsa_witnesses(tmp_path / "store", tsa.url, tsa.trust_roots_pem)
    first, second = _tsa_log(db_session, signer, witnesses)
    as_superuser(db_session)
    execute(
        db_session,
        "DELETE FROM audit_witness_records WHERE witness = 'tsa' AND tree_size = :s",
        s=first,
    )
    if then == "stamped again":
        time.sleep(1.1)  # the loopback TSA's times are to the second
        witness(db_session, witnesses, signer)

    report = verify(db_session, signer, witnesses)

    assert report.damage is not None and report.damage.kind == "witness", report.damage
    if then == "left out":
        assert report.damage.explanation.startswith(
            f"The checkpoint of {first} events has no time-stamp, although the later one of "
            f"{second} has"
        )
    else:
        assert report.damage.explanation.startswith(
            f"The checkpoint of {second} events was time-stamped before the earlier one of {first}"
        )
