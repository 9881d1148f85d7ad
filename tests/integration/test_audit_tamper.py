"""Tampering with the audit log, as someone with database superuser access would, is found:
the kind of damage and the first bad event. The database itself refuses to change or delete
audit rows, for the application's role outright. The witnesses outside the database (a
checkpoint store in a temporary directory here) are what a rewrite of the whole database,
checkpoints included, cannot get past.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from portal.audit import merkle
from portal.audit.chain import canonical_encoding
from portal.audit.checkpoints import sign_tree_head
from portal.audit.record import event_fields
from portal.audit.signing import CheckpointSigner
from portal.audit.tree_store import append_leaves
from portal.audit.witnessing import Witnesses
from portal.models import AuditEvent
from tests.conftest import both_backends
from tests.support.audit_log import TEST_ORIGIN, sequence_all
from tests.support.log_checks import (
    as_superuser,
    checkpoint,
    execute,
    record,
    verify,
)


@both_backends
def test_an_untouched_log_verifies(
    db_session: Session, signer: CheckpointSigner, witnesses: Witnesses
) -> None:
    record(db_session, 5)
    first = checkpoint(db_session, signer, witnesses)
    record(db_session, 3)
    report = verify(db_session, signer, witnesses)
    assert report.intact, report.damage
    assert report.witnessed == [first] and report.last_witnessed == first
    assert report.events_checked == first == report.tree_size
    # The three newest events are not in the tree yet: after the last witnessed checkpoint.
    assert (report.unsequenced, report.events_after_witnessed) == (3, 3)


Tamper = Callable[[Session, list[int]], None]


def _swap(session: Session, events: list[int]) -> None:
    execute(session, "UPDATE audit_events SET seq = -1 WHERE seq = :a", a=events[3])
    execute(session, "UPDATE audit_events SET seq = :a WHERE seq = :b", a=events[3], b=events[4])
    execute(session, "UPDATE audit_events SET seq = :b WHERE seq = -1", b=events[4])


def _cut_the_tail(session: Session, events: list[int]) -> None:
    """Events from the seventh on deleted, with their leaves, and the checkpoints after the
    first with their witness records: what the store still holds shows the cut."""
    execute(session, "DELETE FROM audit_events WHERE seq >= :n", n=events[6])
    execute(
        session,
        "DELETE FROM audit_leaves WHERE leaf_index >= "
        "(SELECT leaf_index FROM audit_leaves WHERE event_seq = :n)",
        n=events[6],
    )
    for table in ("audit_witness_records", "audit_tree_heads"):
        execute(
            session,
            f"DELETE FROM {table} WHERE tree_size > "  # noqa: S608 - our own table names
            "(SELECT min(tree_size) FROM audit_tree_heads)",
        )


def _swap_leaves(session: Session, events: list[int]) -> None:
    # Leaves keep their hashes; which event each names is exchanged.
    execute(session, "UPDATE audit_leaves SET event_seq = -1 WHERE event_seq = :a", a=events[3])
    execute(
        session,
        "UPDATE audit_leaves SET event_seq = :a WHERE event_seq = :b",
        a=events[3],
        b=events[4],
    )
    execute(session, "UPDATE audit_leaves SET event_seq = :b WHERE event_seq = -1", b=events[4])


TAMPERING: dict[str, tuple[Tamper, str, int | None]] = {
    "one field of one event changed": (
        lambda s, e: execute(
            s, "UPDATE audit_events SET action = 'sign_out' WHERE seq = :n", n=e[3]
        ),
        "changed",
        3,
    ),
    "an event deleted": (
        lambda s, e: execute(s, "DELETE FROM audit_events WHERE seq = :n", n=e[3]),
        "deleted",
        3,
    ),
    "two events' numbers swapped": (_swap, "reordered", 3),
    "two leaves swapped": (_swap_leaves, "reordered", 4),  # leaf 3 now names event 4
    "every event from one on deleted": (
        lambda s, e: execute(s, "DELETE FROM audit_events WHERE seq >= :n", n=e[3]),
        "truncated",
        3,
    ),
    "the tail deleted with its leaves, nodes and newest checkpoint": (
        _cut_the_tail,
        "truncated",
        None,
    ),
    "the newest checkpoint deleted": (
        lambda s, e: execute(
            s,
            "DELETE FROM audit_tree_heads WHERE tree_size = (SELECT max(tree_size) FROM "
            "audit_tree_heads)",
        ),
        "rewritten",
        None,
    ),
    "a checkpoint's root changed": (
        lambda s, e: execute(s, "UPDATE audit_tree_heads SET root_hash = :r", r=bytes(32)),
        "rewritten",
        None,
    ),
    "a stored leaf hash changed": (
        lambda s, e: execute(
            s, "UPDATE audit_leaves SET hash = :h WHERE event_seq = :n", h=bytes(32), n=e[3]
        ),
        "changed",
        3,
    ),
}


@both_backends
@pytest.mark.parametrize("damage", sorted(TAMPERING))
def test_tampering_is_found_with_its_kind_and_first_bad_event(
    db_session: Session, signer: CheckpointSigner, witnesses: Witnesses, damage: str
) -> None:
    events = record(db_session, 6)
    checkpoint(db_session, signer, witnesses)
    events += record(db_session, 4)
    checkpoint(db_session, signer, witnesses)
    assert verify(db_session, signer, witnesses).intact
    tamper, kind, position = TAMPERING[damage]
    as_superuser(db_session)
    tamper(db_session, events)

    report = verify(db_session, signer, witnesses)
    assert report.damage is not None, damage
    expected_seq = None if position is None else events[position]
    assert (report.damage.kind, report.damage.seq) == (kind, expected_seq), report.damage


def rewrite_after(session: Session, first_size: int, edited: int) -> None:
    """The issue's attack: edit an event, delete the checkpoints after the last one before it
    (their witness records and the events that recorded their signing too), renumber the
    events to close the gaps, and rebuild the tree's leaves and nodes to match."""
    execute(session, "UPDATE audit_events SET action = 'sign_out' WHERE seq = :n", n=edited)
    execute(session, "DELETE FROM audit_tree_heads WHERE tree_size > :f", f=first_size)
    execute(session, "DELETE FROM audit_witness_records WHERE tree_size > :f", f=first_size)
    execute(session, "DELETE FROM audit_events WHERE action = 'audit_checkpoint_signed'")
    numbers = list(session.scalars(sa.select(AuditEvent.seq).order_by(AuditEvent.seq)))
    for new, old in enumerate(numbers, start=numbers[0]):
        if new != old:
            execute(
                session, "UPDATE audit_events SET seq = :new WHERE seq = :old", new=new, old=old
            )
    execute(session, "DELETE FROM audit_leaves")
    execute(session, "DELETE FROM audit_tree_nodes")
    events = AuditEvent.__table__
    rows = session.execute(sa.select(events).order_by(events.c.seq)).all()
    tree = merkle.CompactRange()
    placed = [(row.seq, merkle.leaf_hash(canonical_encoding(event_fields(row)))) for row in rows]
    append_leaves(session, tree, placed)
    execute(
        session,
        "UPDATE audit_sequencer_state SET tree_size = :size, last_seq = :last",
        size=tree.size,
        last=rows[-1].seq,
    )


@both_backends
@pytest.mark.parametrize("signed_again_with", [None, "a new key", "the stolen signing key"])
def test_the_issues_rewrite_is_found_because_the_witnesses_keep_the_checkpoints(
    db_session: Session,
    signer: CheckpointSigner,
    witnesses: Witnesses,
    tmp_path: Path,
    signed_again_with: str | None,
) -> None:
    record(db_session, 4)
    first = checkpoint(db_session, signer, witnesses)
    events = record(db_session, 4)
    checkpoint(db_session, signer, witnesses, asked=True)
    record(db_session, 2)
    checkpoint(db_session, signer, witnesses, asked=True)
    assert verify(db_session, signer, witnesses).intact

    as_superuser(db_session)
    rewrite_after(db_session, first, events[1])
    if signed_again_with is not None:
        forger = (
            signer
            if signed_again_with == "the stolen signing key"
            else CheckpointSigner.create(tmp_path / "forger.pem")
        )
        assert sign_tree_head(db_session, forger, TEST_ORIGIN) is not None

    report = verify(db_session, signer, witnesses)
    assert report.damage is not None
    assert report.damage.kind == "rewritten", report.damage
    # The tree no longer meets the store's checkpoints: found from the first event after the
    # last checkpoint that still matches.
    explained = " ".join(problem.explanation for problem in report.problems)
    assert "witness store holds a checkpoint" in explained


@both_backends
def test_a_checkpoint_from_an_unknown_key_is_not_trusted(
    db_session: Session, signer: CheckpointSigner, witnesses: Witnesses, tmp_path: Path
) -> None:
    record(db_session, 2)
    checkpoint(db_session, CheckpointSigner.create(tmp_path / "other.pem"), None)
    report = verify(db_session, signer, witnesses)
    assert report.damage is not None and report.damage.kind == "rewritten"
    assert "not signed by a trusted key" in report.damage.explanation


APPEND_ONLY_STATEMENTS = [
    "UPDATE audit_events SET action = 'sign_out'",
    "DELETE FROM audit_events",
    "UPDATE audit_leaves SET event_seq = event_seq + 1000",
    "DELETE FROM audit_leaves",
    "DELETE FROM audit_tree_nodes",
    "UPDATE audit_tree_heads SET key_id = 'x'",
    "DELETE FROM audit_tree_heads",
    "DELETE FROM audit_witness_records",
]


@both_backends
@pytest.mark.parametrize("statement", APPEND_ONLY_STATEMENTS)
def test_the_database_refuses_to_change_or_delete_audit_rows(
    db_session: Session, signer: CheckpointSigner, witnesses: Witnesses, statement: str
) -> None:
    record(db_session, 2)
    checkpoint(db_session, signer, witnesses)
    with pytest.raises(DBAPIError, match="append-only"), db_session.begin_nested():
        db_session.execute(sa.text(statement))


@pytest.mark.parametrize(
    "statement",
    [
        *APPEND_ONLY_STATEMENTS,
        "TRUNCATE audit_events",
        "UPDATE alembic_version SET version_num = '0001'",
    ],
)
def test_the_application_role_may_only_read_and_append_the_trail(
    db_session: Session, signer: CheckpointSigner, witnesses: Witnesses, statement: str
) -> None:
    record(db_session, 2)
    checkpoint(db_session, signer, witnesses)
    db_session.execute(sa.text("SET LOCAL ROLE portal_app"))
    # Reading and appending work...
    assert db_session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)) == 2
    record(db_session, 1)
    # ...changing and removing do not: the role lacks the privilege, before any trigger runs.
    with pytest.raises(DBAPIError, match="permission denied"), db_session.begin_nested():
        db_session.execute(sa.text(statement))


@both_backends
def test_an_event_placed_in_the_tree_twice_is_found(
    db_session: Session, signer: CheckpointSigner, witnesses: Witnesses
) -> None:
    events = record(db_session, 4)
    size = checkpoint(db_session, signer, witnesses)
    as_superuser(db_session)
    if db_session.get_bind().dialect.name == "postgresql":
        execute(db_session, "ALTER TABLE audit_leaves DROP CONSTRAINT uq_audit_leaves_event_seq")
    else:  # SQLite cannot drop a constraint: the table is made again without it
        execute(db_session, "CREATE TABLE leaves_copy AS SELECT * FROM audit_leaves")
        execute(db_session, "DROP TABLE audit_leaves")
        execute(db_session, "ALTER TABLE leaves_copy RENAME TO audit_leaves")
    execute(
        db_session,
        "INSERT INTO audit_leaves (leaf_index, event_seq, hash) "
        "SELECT :size, event_seq, hash FROM audit_leaves WHERE event_seq = :n",
        size=size,
        n=events[1],
    )
    report = verify(db_session, signer, witnesses)
    assert report.damage is not None
    assert (report.damage.kind, report.damage.seq) == ("reordered", events[1]), report.damage


def _insert_behind_the_bookmark(session: Session, seq: int) -> None:
    """A backdated event inserted around the application where the sequencer never looks:
    below its transaction-id watermark on PostgreSQL, at or below its last number on SQLite."""
    xact = 3 if session.get_bind().dialect.name == "postgresql" else None
    execute(
        session,
        "INSERT INTO audit_events (seq, occurred_at, action, outcome, details, xact) "
        "VALUES (:seq, '2025-01-01 00:00:00', 'sign_in', 'success', '{}', :xact)",
        seq=seq,
        xact=xact,
    )


@both_backends
def test_an_event_hidden_from_the_sequencer_is_damage(
    db_session: Session, signer: CheckpointSigner, witnesses: Witnesses
) -> None:
    record(db_session, 4)
    checkpoint(db_session, signer, witnesses)
    record(db_session, 2)
    size = checkpoint(db_session, signer, witnesses)
    as_superuser(db_session)
    _insert_behind_the_bookmark(db_session, -7)
    assert sequence_all(db_session) == 0  # the sequencer would never place it

    report = verify(db_session, signer, witnesses)

    assert report.damage is not None
    assert (report.damage.kind, report.damage.seq) == ("hidden", -7)
    assert report.unsequenced == 1 and report.events_after_witnessed == 1
    assert report.tree_size == size


@both_backends
def test_real_events_moved_behind_the_bookmark_then_edited_are_damage(
    db_session: Session, signer: CheckpointSigner, witnesses: Witnesses
) -> None:
    """Genuine events not yet placed, their transaction ids rewritten below the watermark
    (PostgreSQL) or the bookmark moved past them (SQLite), then one edited, one deleted."""
    record(db_session, 4)
    checkpoint(db_session, signer, witnesses)
    events = record(db_session, 3)
    as_superuser(db_session)
    if db_session.get_bind().dialect.name == "postgresql":
        execute(db_session, "UPDATE audit_events SET xact = 3 WHERE seq IN (:a, :b, :c)",
                a=events[0], b=events[1], c=events[2])  # fmt: skip
    else:
        execute(db_session, "UPDATE audit_sequencer_state SET last_seq = :s", s=events[-1])
    execute(db_session, "UPDATE audit_events SET action = 'sign_out' WHERE seq = :n", n=events[0])
    execute(db_session, "DELETE FROM audit_events WHERE seq = :n", n=events[1])
    sequence_all(db_session)

    report = verify(db_session, signer, witnesses)

    assert report.damage is not None
    assert (report.damage.kind, report.damage.seq) == ("hidden", events[0])
    assert report.unsequenced == 2


@both_backends
def test_a_bookmark_that_disagrees_with_the_leaves_is_damage(
    db_session: Session, signer: CheckpointSigner, witnesses: Witnesses
) -> None:
    record(db_session, 3)
    checkpoint(db_session, signer, witnesses)
    as_superuser(db_session)
    execute(db_session, "UPDATE audit_sequencer_state SET tree_size = tree_size + 5")

    report = verify(db_session, signer, witnesses)

    assert report.damage is not None and report.damage.kind == "rewritten"
    assert "bookmark says the tree holds 8 events but it holds 3" in report.damage.explanation
