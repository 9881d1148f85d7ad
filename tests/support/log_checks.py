"""Checking the audit log in tests: checkpoints signed and handed to real witnesses (a
checkpoint store in a temporary directory, the loopback TSA where a test asks for it), the
log verified, and the append-only triggers switched off as a database superuser would."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from portal.audit import AuditAction, record_event
from portal.audit.checkpoints import sign_tree_head
from portal.audit.record import Actor
from portal.audit.signing import CheckpointSigner
from portal.audit.verify import verify_log, verify_since
from portal.audit.verify_report import VerificationReport
from portal.audit.witness import CheckpointStore, TimestampAuthority
from portal.audit.witnessing import LogKeys, Witnesses, witness_pending
from portal.models import AuditEvent
from tests.support.audit_log import TEST_ORIGIN, sequence_all, settle

AUDIT_TABLES = (
    "audit_events",
    "audit_checkpoints",
    "audit_leaves",
    "audit_tree_nodes",
    "audit_tree_heads",
    "audit_witness_records",
    "audit_sequencer_state",
)
IG_OFFICER = Actor(user_id=None, organisation_id=None, role="ig_officer")


def store_witnesses(directory: Path) -> Witnesses:
    """A checkpoint store alone (no TSA), as the tests' settings configure."""
    directory.mkdir(exist_ok=True)
    return Witnesses(CheckpointStore(directory), None, None)


def tsa_witnesses(directory: Path, url: str, roots: bytes) -> Witnesses:
    directory.mkdir(exist_ok=True)
    return Witnesses(CheckpointStore(directory), TimestampAuthority(url, roots), roots)


def record(session: Session, count: int) -> list[int]:
    """`count` events; their numbers."""
    made = [
        record_event(session, AuditAction.SIGN_IN, details={"attempt": index})
        for index in range(count)
    ]
    session.flush()
    return [event.seq for event in made]


def checkpoint(
    session: Session,
    signer: CheckpointSigner,
    witnesses: Witnesses | None,
    *,
    asked: bool = False,
) -> int:
    """Sequence everything, sign the head (as the IG officer's button does when `asked`: an
    `audit_checkpoint_signed` event follows it), and hand it to the witnesses; its size."""
    if asked:
        sequence_all(session)
        head = sign_tree_head(session, signer, TEST_ORIGIN, asked_by=IG_OFFICER)
    else:
        head = settle(session, signer)
    assert head is not None
    session.flush()
    if witnesses is not None:
        witness(session, witnesses, signer)
    return head.tree_size


def witness(session: Session, witnesses: Witnesses, signer: CheckpointSigner) -> None:
    """The sequencer's witnessing round, through the real code, on the test's connection."""
    session.flush()
    sessions = sessionmaker(bind=session.connection(), join_transaction_mode="create_savepoint")
    log_keys = LogKeys(TEST_ORIGIN, (signer.public,))
    progress = witness_pending(sessions, witnesses.store, witnesses.tsa, log_keys)
    assert progress.conflict is None and progress.unavailable is None, progress


def verify(
    session: Session, signer: CheckpointSigner, witnesses: Witnesses, *, interval: int = 60
) -> VerificationReport:
    session.flush()
    session.expire_all()
    return verify_log(
        session, [signer.public], TEST_ORIGIN, witnesses, checkpoint_interval_seconds=interval
    )


def verify_from(
    session: Session, signer: CheckpointSigner, witnesses: Witnesses, from_size: int
) -> VerificationReport:
    session.flush()
    session.expire_all()
    return verify_since(session, [signer.public], TEST_ORIGIN, witnesses, from_size)


def as_superuser(session: Session) -> None:
    """Switch the append-only triggers off for this transaction, as a superuser could: on
    PostgreSQL `ALTER TABLE … DISABLE TRIGGER ALL` (undone when the test's transaction rolls
    back), on SQLite the triggers dropped."""
    session.flush()
    if session.get_bind().dialect.name == "postgresql":
        for table in AUDIT_TABLES:
            session.execute(sa.text(f"ALTER TABLE {table} DISABLE TRIGGER ALL"))
        return
    names = session.scalars(
        sa.text("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name LIKE 'audit%'")
    ).all()
    for name in names:
        session.execute(sa.text(f'DROP TRIGGER "{name}"'))


def execute(session: Session, statement: str, **values: object) -> None:
    session.execute(sa.text(statement), values)


def event_count(session: Session) -> int:
    return int(session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)) or 0)
