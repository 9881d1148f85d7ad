"""The verifier's fast read of the trail: on PostgreSQL it takes ids and details as text
from the database, and must see exactly the fields event_fields builds; where it would not,
the event is judged again from the stored row, so a disagreement never passes or fails a
trail by itself."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.audit import AuditAction, record_event
from portal.audit import verify as verifying
from portal.audit.checkpoints import sign_checkpoint
from portal.audit.record import Actor, event_fields
from portal.audit.signing import CheckpointSigner
from portal.audit.verify import verify_trail
from portal.models import AuditEvent
from tests.conftest import both_backends

AWKWARD_TEXT = 'quote " backslash \\ tab \t newline \n nul-ish \x01 del \x7f é ß 漢字 😀'


@pytest.fixture(scope="module")
def signer(audit_key_path: Path) -> CheckpointSigner:
    return CheckpointSigner.load(audit_key_path)


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


def test_the_fast_read_sees_exactly_the_fields_the_hash_covers(db_session: Session) -> None:
    record_awkward_events(db_session)
    table = AuditEvent.__table__
    stored = db_session.execute(sa.select(table).order_by(table.c.seq)).all()
    fast = db_session.execute(verifying._AS_TEXT).all()
    assert [verifying._fields_from_text(row) for row in fast] == [
        event_fields(row) for row in stored
    ]


@both_backends
def test_awkward_events_verify(db_session: Session, signer: CheckpointSigner) -> None:
    record_awkward_events(db_session)
    sign_checkpoint(db_session, signer)
    record_awkward_events(db_session)
    report = verify_trail(db_session, [signer.public])
    assert report.intact, report.damage
    assert report.events_checked == report.head_seq == 7
    assert report.checkpoints_checked == 1


def test_a_disagreeing_fast_read_is_judged_from_the_stored_event(
    db_session: Session, signer: CheckpointSigner, monkeypatch: pytest.MonkeyPatch
) -> None:
    record_awkward_events(db_session)
    sign_checkpoint(db_session, signer)
    judged: list[int] = []
    stored_event, fields_from_text = verifying._stored_event, verifying._fields_from_text

    def wrong_fields(row: Any) -> dict[str, Any]:
        return fields_from_text(row) | {"occurred_at": "a different rendering"}

    def judging(session: Session, seq: int) -> Any:
        judged.append(seq)
        return stored_event(session, seq)

    monkeypatch.setattr(verifying, "_fields_from_text", wrong_fields)
    monkeypatch.setattr(verifying, "_stored_event", judging)
    report = verify_trail(db_session, [signer.public])
    assert report.intact, report.damage
    assert judged == [1, 2, 3, 4]


def test_a_changed_event_is_still_found_through_the_fast_read(
    db_session: Session, signer: CheckpointSigner
) -> None:
    record_awkward_events(db_session)
    sign_checkpoint(db_session, signer)
    db_session.execute(sa.text("SET LOCAL session_replication_role = replica"))
    db_session.execute(
        sa.update(AuditEvent).where(AuditEvent.seq == 2).values(details={"zeta": "other"})
    )
    report = verify_trail(db_session, [signer.public])
    assert report.damage is not None
    assert (report.damage.kind, report.damage.seq) == ("changed", 2)
