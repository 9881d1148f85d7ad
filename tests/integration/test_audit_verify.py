"""Verification against the witnesses outside the database, incrementally, and through the
fast read of the events: the store's notes changed, deleted or added, time-stamp tokens from
the real loopback TSA swapped or altered, a checkpoint inconsistent with the one before it, a
forged frontier for the incremental check, and what the check costs."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from loopback.tsa import LoopbackTsa
from portal.audit import AuditAction, merkle, record_event
from portal.audit import verify_leaves as leaves
from portal.audit.chain import canonical_encoding
from portal.audit.note import CheckpointBody, sign_note
from portal.audit.record import Actor, event_fields
from portal.audit.signing import CheckpointSigner
from portal.audit.witnessing import Witnesses
from portal.models import AuditEvent, AuditWitness, AuditWitnessRecord
from tests.conftest import both_backends
from tests.support.audit_log import TEST_ORIGIN
from tests.support.log_checks import (
    as_superuser,
    checkpoint,
    execute,
    record,
    tsa_witnesses,
    verify,
    verify_from,
)

AWKWARD_TEXT = 'quote " backslash \\ tab \t newline \n nul-ish \x01 del \x7f é ß 漢字 😀'


def two_witnessed_checkpoints(
    session: Session, signer: CheckpointSigner, witnesses: Witnesses
) -> tuple[int, int]:
    record(session, 3)
    first = checkpoint(session, signer, witnesses)
    record(session, 3)
    second = checkpoint(session, signer, witnesses)
    assert verify(session, signer, witnesses).intact
    return first, second


def note_path(witnesses: Witnesses, size: int) -> Path:
    assert witnesses.store is not None
    return witnesses.store.path(size)


@both_backends
def test_a_store_note_altered_is_witness_damage(
    db_session: Session, signer: CheckpointSigner, witnesses: Witnesses
) -> None:
    first, _ = two_witnessed_checkpoints(db_session, signer, witnesses)
    path = note_path(witnesses, first)
    path.chmod(0o640)
    path.write_text(path.read_text().replace(f"\n{first}\n", f"\n{first + 1}\n"))
    report = verify(db_session, signer, witnesses)
    assert report.damage is not None and report.damage.kind == "witness", report.damage
    assert first not in report.witnessed


@both_backends
@pytest.mark.parametrize("which", ["older", "newest"])
def test_a_store_note_deleted_is_witness_damage(
    db_session: Session, signer: CheckpointSigner, witnesses: Witnesses, which: str
) -> None:
    first, second = two_witnessed_checkpoints(db_session, signer, witnesses)
    note_path(witnesses, first if which == "older" else second).unlink()
    report = verify(db_session, signer, witnesses)
    assert report.damage is not None and report.damage.kind == "witness", report.damage
    assert "store" in report.damage.explanation


@both_backends
def test_a_checkpoint_the_store_holds_and_the_database_lacks_is_found(
    db_session: Session, signer: CheckpointSigner, witnesses: Witnesses
) -> None:
    first, second = two_witnessed_checkpoints(db_session, signer, witnesses)
    as_superuser(db_session)
    execute(db_session, "DELETE FROM audit_tree_heads WHERE tree_size = :s", s=first)
    execute(db_session, "DELETE FROM audit_witness_records WHERE tree_size = :s", s=first)
    report = verify(db_session, signer, witnesses)
    assert report.damage is not None
    assert report.damage.kind == "rewritten"
    assert f"holds a checkpoint of {first} events that the database no longer has" in (
        report.damage.explanation
    )


@both_backends
def test_a_signed_note_inconsistent_with_the_checkpoints_around_it_is_found(
    db_session: Session, signer: CheckpointSigner, witnesses: Witnesses
) -> None:
    """A note for an older size with another root, signed with the real key (as one holding
    a stolen key could) and put in the store: the tree recomputed does not meet it."""
    first, second = two_witnessed_checkpoints(db_session, signer, witnesses)
    forged = sign_note(CheckpointBody(TEST_ORIGIN, first + 1, bytes(32)), signer, TEST_ORIGIN)
    assert witnesses.store is not None
    witnesses.store.put(first + 1, forged)
    report = verify(db_session, signer, witnesses)
    assert report.damage is not None and report.damage.kind == "rewritten", report.damage
    assert f"checkpoint of {first + 1} events held by the witness store" in (
        report.damage.explanation
    )


def test_time_stamps_from_the_real_tsa_verify(
    db_session: Session, signer: CheckpointSigner, tmp_path: Path, tsa: LoopbackTsa
) -> None:
    witnesses = tsa_witnesses(tmp_path / "store", tsa.url, tsa.trust_roots_pem)
    first, second = two_witnessed_checkpoints(db_session, signer, witnesses)
    report = verify(db_session, signer, witnesses)
    assert report.intact, report.damage
    assert report.tokens_checked == 2 and report.witnessed == [first, second]


def _tokens(session: Session) -> list[tuple[int, bytes]]:
    rows = session.execute(
        sa.select(AuditWitnessRecord.tree_size, AuditWitnessRecord.token)
        .where(AuditWitnessRecord.witness == AuditWitness.TSA)
        .order_by(AuditWitnessRecord.tree_size)
    ).all()
    return [(row[0], row[1] or b"") for row in rows]


@pytest.mark.parametrize("tamper", ["swapped", "altered"])
def test_a_time_stamp_token_swapped_or_altered_is_witness_damage(
    db_session: Session, signer: CheckpointSigner, tmp_path: Path, tsa: LoopbackTsa, tamper: str
) -> None:
    witnesses = tsa_witnesses(tmp_path / "store", tsa.url, tsa.trust_roots_pem)
    two_witnessed_checkpoints(db_session, signer, witnesses)
    (first, token_one), (second, token_two) = _tokens(db_session)
    as_superuser(db_session)
    if tamper == "swapped":
        replaced = {first: token_two, second: token_one}
    else:
        middle = len(token_one) // 2
        replaced = {
            first: token_one[:middle] + bytes([token_one[middle] ^ 1]) + token_one[middle + 1 :]
        }
    for size, token in replaced.items():
        execute(
            db_session,
            "UPDATE audit_witness_records SET token = :t WHERE tree_size = :s AND witness = 'tsa'",
            t=token,
            s=size,
        )
    report = verify(db_session, signer, witnesses)
    assert report.damage is not None and report.damage.kind == "witness", report.damage
    assert report.damage.explanation.startswith(
        f"The time-stamp kept for the checkpoint of {first}"
    )
    assert first not in report.witnessed


@both_backends
def test_unwitnessed_checkpoints_are_listed_not_damage(
    db_session: Session, signer: CheckpointSigner, witnesses: Witnesses
) -> None:
    record(db_session, 3)
    first = checkpoint(db_session, signer, witnesses)
    record(db_session, 2)
    second = checkpoint(db_session, signer, None)  # the store has not taken it yet
    record(db_session, 1)
    report = verify(db_session, signer, witnesses)
    assert report.intact, report.damage
    assert (report.witnessed, report.unwitnessed) == ([first], [second])
    assert report.events_after_witnessed == second - first + 1
    assert report.unsequenced == 1


@both_backends
def test_deleting_the_newest_unwitnessed_events_is_only_bounded(
    db_session: Session, signer: CheckpointSigner, witnesses: Witnesses
) -> None:
    """What the docs admit: events no witness holds yet can be deleted unseen; the check says
    how many there are, which bounds what could have been lost."""
    record(db_session, 3)
    checkpoint(db_session, signer, witnesses)
    newest = record(db_session, 3)
    before = verify(db_session, signer, witnesses)
    assert before.intact and before.events_after_witnessed == 3
    as_superuser(db_session)
    execute(db_session, "DELETE FROM audit_events WHERE seq = :n", n=newest[-1])
    after = verify(db_session, signer, witnesses)
    assert after.intact and after.events_after_witnessed == 2


@both_backends
def test_events_but_no_checkpoint_long_after_one_was_due_is_damage(
    db_session: Session, signer: CheckpointSigner, witnesses: Witnesses
) -> None:
    record(db_session, 2)
    assert verify(db_session, signer, witnesses).intact  # not yet due
    report = verify(db_session, signer, witnesses, interval=0)
    assert report.damage is not None and report.damage.kind == "unsigned"


# Incremental verification.


@both_backends
def test_an_incremental_check_reads_only_the_new_leaves(
    db_session: Session, signer: CheckpointSigner, witnesses: Witnesses
) -> None:
    record(db_session, 40)
    start = checkpoint(db_session, signer, witnesses)
    record(db_session, 7)
    end = checkpoint(db_session, signer, witnesses)

    report = verify_from(db_session, signer, witnesses, start)
    assert report.intact, report.damage
    assert (report.from_size, report.tree_size) == (start, end)
    assert report.events_checked == report.leaves_read == 7
    record(db_session, 3)
    checkpoint(db_session, signer, witnesses)
    assert verify_from(db_session, signer, witnesses, end).leaves_read == 3
    # A full check reads them all.
    assert verify(db_session, signer, witnesses).leaves_read == end + 3


@both_backends
def test_an_incremental_check_finds_damage_after_its_start(
    db_session: Session, signer: CheckpointSigner, witnesses: Witnesses
) -> None:
    record(db_session, 5)
    start = checkpoint(db_session, signer, witnesses)
    events = record(db_session, 5)
    checkpoint(db_session, signer, witnesses)
    as_superuser(db_session)
    execute(db_session, "UPDATE audit_events SET action = 'sign_out' WHERE seq = :n", n=events[2])
    report = verify_from(db_session, signer, witnesses, start)
    assert report.damage is not None
    assert (report.damage.kind, report.damage.seq) == ("changed", events[2])


@both_backends
def test_a_forged_frontier_cannot_start_an_incremental_check(
    db_session: Session, signer: CheckpointSigner, witnesses: Witnesses
) -> None:
    record(db_session, 8)
    start = checkpoint(db_session, signer, witnesses)
    record(db_session, 3)
    checkpoint(db_session, signer, witnesses)
    as_superuser(db_session)
    for level, index in merkle.frontier_positions(start):
        if level == 0:
            forged = "UPDATE audit_leaves SET hash = :h WHERE leaf_index = :i AND :l = 0"
        else:
            forged = 'UPDATE audit_tree_nodes SET hash = :h WHERE level = :l AND "index" = :i'
        execute(db_session, forged, h=bytes(32), l=level, i=index)
    report = verify_from(db_session, signer, witnesses, start)
    assert report.damage is not None and report.damage.kind == "rewritten", report.damage
    assert "stored tree" in report.damage.explanation
    assert report.leaves_read == 0


@both_backends
def test_an_incremental_check_without_a_witnessed_start_checks_everything(
    db_session: Session, signer: CheckpointSigner, witnesses: Witnesses
) -> None:
    record(db_session, 4)
    size = checkpoint(db_session, signer, None)
    report = verify_from(db_session, signer, witnesses, size)
    assert report.intact and report.from_size == 0 and report.leaves_read == size


# The fast read of the events (PostgreSQL).


def record_awkward_events(session: Session) -> None:
    person = Actor(user_id=uuid.uuid4(), organisation_id=uuid.uuid4(), role="partner_lead")
    record_event(session, AuditAction.SIGN_IN)
    record_event(
        session,
        AuditAction.CONTRIBUTION_VIEWED,
        actor=person,
        object_type="contribution",
        object_id=uuid.uuid4(),
        case_reference=AWKWARD_TEXT[:60],
        details={"zeta": AWKWARD_TEXT, "alpha": 7, "flag": True, "none": None, "é": "x"},
    )
    record_event(session, AuditAction.AUDIT_SEARCHED, actor=person, details={})
    session.flush()


def test_the_fast_read_writes_exactly_the_encoding_the_leaf_covers(
    db_session: Session, signer: CheckpointSigner
) -> None:
    record_awkward_events(db_session)
    checkpoint(db_session, signer, None)
    table = AuditEvent.__table__
    stored = db_session.execute(sa.select(table).order_by(table.c.seq)).all()
    fast = [encoding for *_, encoding, _ in leaves.leaf_rows(db_session, 0, True, 100)]
    assert fast == [canonical_encoding(event_fields(row)) for row in stored]


@both_backends
def test_awkward_events_verify(
    db_session: Session, signer: CheckpointSigner, witnesses: Witnesses
) -> None:
    record_awkward_events(db_session)
    checkpoint(db_session, signer, witnesses)
    record_awkward_events(db_session)
    size = checkpoint(db_session, signer, witnesses)
    report = verify(db_session, signer, witnesses)
    assert report.intact, report.damage
    assert report.events_checked == size == 6 and report.heads_checked == 2


def test_a_disagreeing_fast_read_is_judged_from_the_stored_event(
    db_session: Session,
    signer: CheckpointSigner,
    witnesses: Witnesses,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    record_awkward_events(db_session)
    checkpoint(db_session, signer, witnesses)
    judged: list[int] = []
    stored_fields, fast_encoding = leaves.stored_fields, leaves.fast_encoding

    def wrong_encoding(row: Any) -> bytes:
        return fast_encoding(row).replace(b'"occurred_at":"', b'"occurred_at":"x')

    def judging(session: Session, seq: int) -> dict[str, Any]:
        judged.append(seq)
        return stored_fields(session, seq)

    monkeypatch.setattr(leaves, "fast_encoding", wrong_encoding)
    monkeypatch.setattr(leaves, "stored_fields", judging)
    report = verify(db_session, signer, witnesses)
    assert report.intact, report.damage
    assert len(judged) == 3


def test_a_changed_event_is_still_found_through_the_fast_read(
    db_session: Session, signer: CheckpointSigner, witnesses: Witnesses
) -> None:
    record_awkward_events(db_session)
    checkpoint(db_session, signer, witnesses)
    seq = db_session.scalar(sa.select(sa.func.min(AuditEvent.seq))) or 0
    as_superuser(db_session)
    db_session.execute(
        sa.update(AuditEvent).where(AuditEvent.seq == seq + 1).values(details={"zeta": "other"})
    )
    report = verify(db_session, signer, witnesses)
    assert report.damage is not None
    assert (report.damage.kind, report.damage.seq) == ("changed", seq + 1)
