"""Tampering with the audit trail, as someone with database superuser access would, is found:
the first bad sequence number and the kind of damage. And the database itself refuses to change
or delete audit rows, for the application's role outright.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from portal.audit import AuditAction, record_event
from portal.audit.chain import content_digest, link
from portal.audit.checkpoints import sign_checkpoint
from portal.audit.record import event_fields
from portal.audit.signing import CheckpointSigner
from portal.audit.verify import VerificationReport, verify_trail
from portal.models import AuditCheckpoint, AuditEvent
from tests.conftest import both_backends


@pytest.fixture(scope="module")
def signer(audit_key_path: Path) -> CheckpointSigner:
    return CheckpointSigner.load(audit_key_path)


def record(session: Session, count: int) -> None:
    for index in range(count):
        record_event(session, AuditAction.SIGN_IN, details={"attempt": index})
    session.flush()


def verify(session: Session, signer: CheckpointSigner) -> VerificationReport:
    session.expire_all()
    return verify_trail(session, [signer.public])


def as_superuser(session: Session) -> None:
    """Switch the append-only triggers off for this transaction, as a superuser could."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.text("SET LOCAL session_replication_role = replica"))
    else:
        for table in ("audit_events", "audit_checkpoints"):
            for operation in ("update", "delete"):
                session.execute(sa.text(f"DROP TRIGGER {table}_no_{operation}"))


def execute(session: Session, statement: str) -> None:
    session.execute(sa.text(statement))


@both_backends
def test_an_untouched_trail_verifies(db_session: Session, signer: CheckpointSigner) -> None:
    record(db_session, 5)
    sign_checkpoint(db_session, signer)
    record(db_session, 3)
    report = verify(db_session, signer)
    assert report.intact, report.damage
    assert report.events_checked == 9 and report.checkpoints_checked == 1


TAMPERING: dict[str, tuple[Callable[[Session], None], str, int]] = {
    "one field of one event changed": (
        lambda s: execute(s, "UPDATE audit_events SET action = 'sign_out' WHERE seq = 4"),
        "changed",
        4,
    ),
    "an event deleted": (
        lambda s: execute(s, "DELETE FROM audit_events WHERE seq = 4"),
        "deleted",
        4,
    ),
    "two events swapped": (
        lambda s: (
            (
                execute(s, "UPDATE audit_events SET seq = -1 WHERE seq = 4"),
                execute(s, "UPDATE audit_events SET seq = 4 WHERE seq = 5"),
                execute(s, "UPDATE audit_events SET seq = 5 WHERE seq = -1"),
            )
            and None
        ),
        "reordered",
        4,
    ),
    "the tail deleted after a checkpoint": (
        lambda s: execute(s, "DELETE FROM audit_events WHERE seq >= 5"),
        "truncated",
        5,
    ),
}


@both_backends
@pytest.mark.parametrize("damage", sorted(TAMPERING))
def test_tampering_is_found_with_its_kind_and_first_bad_sequence(
    db_session: Session, signer: CheckpointSigner, damage: str
) -> None:
    record(db_session, 5)
    sign_checkpoint(db_session, signer)  # event 6, signed
    tamper, kind, seq = TAMPERING[damage]
    as_superuser(db_session)
    tamper(db_session)
    report = verify(db_session, signer)
    assert report.damage is not None, damage
    assert (report.damage.kind, report.damage.seq) == (kind, seq), report.damage


def rewrite_from(session: Session, seq: int) -> None:
    """Change event `seq` and recompute every hash after it: a consistent chain, forged."""
    events = list(
        session.scalars(sa.select(AuditEvent).where(AuditEvent.seq >= seq).order_by(AuditEvent.seq))
    )
    previous = session.scalar(sa.select(AuditEvent.hash).where(AuditEvent.seq == seq - 1))
    assert previous is not None
    updates = []
    for event in events:
        fields = event_fields(event)
        if event.seq == seq:
            fields["action"] = "sign_out"
        current = link(previous, content_digest(fields))
        updates.append((event.seq, fields["action"], previous, current))
        previous = current
    session.expunge_all()
    for number, action, prev_hash, new_hash in updates:
        session.execute(
            sa.update(AuditEvent)
            .where(AuditEvent.seq == number)
            .values(action=action, prev_hash=prev_hash, hash=new_hash)
        )


def test_a_consistent_rewrite_without_the_key_is_found(
    db_session: Session, signer: CheckpointSigner
) -> None:
    record(db_session, 3)
    sign_checkpoint(db_session, signer)  # event 4
    record(db_session, 4)
    sign_checkpoint(db_session, signer)  # event 9
    as_superuser(db_session)
    rewrite_from(db_session, 6)

    report = verify(db_session, signer)
    assert report.damage is not None
    # Between the last checkpoint that still matches (4) and the one that does not (9).
    assert (report.damage.kind, report.damage.seq) == ("rewritten", 5)


def test_a_rewrite_with_a_forged_checkpoint_is_found(
    db_session: Session, signer: CheckpointSigner
) -> None:
    record(db_session, 3)
    sign_checkpoint(db_session, signer)  # event 4
    as_superuser(db_session)
    rewrite_from(db_session, 2)
    new_head = db_session.scalar(sa.select(AuditEvent.hash).where(AuditEvent.seq == 4))
    db_session.execute(sa.update(AuditCheckpoint).values(head_hash=new_head))

    report = verify(db_session, signer)
    assert report.damage is not None
    assert (report.damage.kind, report.damage.seq) == ("rewritten", 4)


def test_a_checkpoint_from_an_unknown_key_is_not_trusted(
    db_session: Session, signer: CheckpointSigner, tmp_path: Path
) -> None:
    record(db_session, 2)
    sign_checkpoint(db_session, CheckpointSigner.create(tmp_path / "other.pem"))
    report = verify(db_session, signer)
    assert report.damage is not None and report.damage.kind == "rewritten"


@both_backends
@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_events SET action = 'sign_out'",
        "DELETE FROM audit_events",
        "UPDATE audit_checkpoints SET key_id = 'x'",
        "DELETE FROM audit_checkpoints",
    ],
)
def test_the_database_refuses_to_change_or_delete_audit_rows(
    db_session: Session, signer: CheckpointSigner, statement: str
) -> None:
    record(db_session, 2)
    sign_checkpoint(db_session, signer)
    with pytest.raises(DBAPIError, match="append-only"), db_session.begin_nested():
        db_session.execute(sa.text(statement))


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_events SET action = 'sign_out'",
        "DELETE FROM audit_events",
        "TRUNCATE audit_events",
        "UPDATE audit_checkpoints SET key_id = 'x'",
        "DELETE FROM audit_checkpoints",
        "UPDATE alembic_version SET version_num = '0001'",
    ],
)
def test_the_application_role_may_only_read_and_append_the_trail(
    db_session: Session, signer: CheckpointSigner, statement: str
) -> None:
    record(db_session, 2)
    sign_checkpoint(db_session, signer)
    db_session.execute(sa.text("SET LOCAL ROLE portal_app"))
    # Reading and appending work...
    assert db_session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)) == 3
    record(db_session, 1)
    # ...changing and removing do not: the role lacks the privilege, before any trigger runs.
    with pytest.raises(DBAPIError, match="permission denied"), db_session.begin_nested():
        db_session.execute(sa.text(statement))


@both_backends
def test_deleting_a_checkpoint_to_rewrite_after_it_is_found(
    db_session: Session, signer: CheckpointSigner
) -> None:
    record(db_session, 3)
    sign_checkpoint(db_session, signer)  # event 4
    record(db_session, 3)
    sign_checkpoint(db_session, signer)  # event 8
    as_superuser(db_session)
    execute(db_session, "DELETE FROM audit_checkpoints WHERE seq = 8")
    report = verify(db_session, signer)
    assert report.damage is not None
    assert (report.damage.kind, report.damage.seq) == ("rewritten", 8)
