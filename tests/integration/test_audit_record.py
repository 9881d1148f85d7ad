"""Recording audit events: one chain, in the caller's transaction, with no content."""

from __future__ import annotations

import hashlib

import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.orm import Session

from portal import db
from portal.audit import AuditAction, record_event
from portal.audit.chain import GENESIS_HASH, canonical_encoding
from portal.audit.record import NewEvent, event_fields, record_events
from portal.auth.policy import PUBLIC, access
from portal.models import AuditEvent, Organisation, OrganisationKind
from tests.conftest import both_backends
from tests.support.statements import statements_run


def assert_one_chain(events: list[AuditEvent]) -> None:
    """Each event's hash covers its fields and the hash before it, from the genesis hash."""
    previous = GENESIS_HASH
    for event in events:
        assert event.prev_hash == previous
        digest = hashlib.sha256(canonical_encoding(event_fields(event))).digest()
        assert event.hash == hashlib.sha256(previous + digest).digest()
        previous = event.hash


@both_backends
def test_events_form_one_gapless_hash_chain(db_session: Session) -> None:
    for index in range(5):
        record_event(db_session, AuditAction.SIGN_IN, details={"attempt": index})
    db_session.commit()

    events = list(db_session.scalars(sa.select(AuditEvent).order_by(AuditEvent.seq)))
    assert [event.seq for event in events] == list(range(1, 6))
    assert_one_chain(events)


@both_backends
def test_events_appended_together_continue_the_same_chain_in_order(db_session: Session) -> None:
    # Issue 20: a request's lasting reads (an inbox page's 25) are appended in one go.
    record_event(db_session, AuditAction.SIGN_IN, details={"attempt": 0})
    together = [
        NewEvent(AuditAction.CHILD_DETAILS_VIEWED, object_id=f"DR-{n}", details={"n": n})
        for n in range(1, 4)
    ]
    made = record_events(db_session, together)
    record_event(db_session, AuditAction.SIGN_IN, details={"attempt": 4})
    db_session.commit()

    events = list(db_session.scalars(sa.select(AuditEvent).order_by(AuditEvent.seq)))
    assert [event.seq for event in events] == list(range(1, 6))
    assert [event.object_id for event in events[1:4]] == ["DR-1", "DR-2", "DR-3"]
    assert [event.seq for event in made] == [2, 3, 4]
    assert_one_chain(events)
    with pytest.raises(TypeError):
        record_events(db_session, [NewEvent(AuditAction.SIGN_IN, details={"x": [1]})])  # type: ignore[dict-item]
    assert record_events(db_session, []) == []


def test_events_appended_together_take_the_lock_read_the_head_and_insert_once(
    db_session: Session,
) -> None:
    with statements_run(db_session) as statements:
        record_events(
            db_session,
            [NewEvent(AuditAction.CHILD_DETAILS_VIEWED, object_id=f"DR-{n}") for n in range(25)],
        )
    assert [statement.split()[0] for statement in statements] == ["SELECT", "SELECT", "INSERT"]
    assert "pg_advisory_xact_lock" in statements[0]


def test_a_changed_event_no_longer_matches_its_hash(db_session: Session) -> None:
    event = record_event(db_session, AuditAction.SIGN_IN, details={"method": "demo"})
    original = event.hash
    event.details = {"method": "forged"}
    digest = hashlib.sha256(canonical_encoding(event_fields(event))).digest()
    assert hashlib.sha256(event.prev_hash + digest).digest() != original


def test_details_refuse_anything_but_flat_codes(db_session: Session) -> None:
    with pytest.raises(TypeError):
        record_event(db_session, AuditAction.SIGN_IN, details={"answers": {"q1": "text"}})  # type: ignore[dict-item]


def test_an_action_and_its_event_commit_or_roll_back_together(app: Flask) -> None:
    @app.post("/test-only/act-then-fail")
    @access(PUBLIC)
    def act_then_fail() -> str:
        session = db.session()
        session.add(Organisation(name="Half Saved School", kind=OrganisationKind.SCHOOL))
        record_event(session, AuditAction.DEMO_DATA_SEEDED)
        raise RuntimeError("fails after writing")

    @app.post("/test-only/act")
    @access(PUBLIC)
    def act() -> str:
        session = db.session()
        session.add(Organisation(name="Saved School", kind=OrganisationKind.SCHOOL))
        record_event(session, AuditAction.DEMO_DATA_SEEDED)
        return "done"

    app.config["WTF_CSRF_ENABLED"] = False  # test-only routes without forms
    client = app.test_client()
    assert client.post("/test-only/act-then-fail").status_code == 500
    assert client.post("/test-only/act").status_code == 200

    with app.app_context():
        session = db.session()
        names = set(session.scalars(sa.select(Organisation.name)))
        events = session.scalar(sa.select(sa.func.count()).select_from(AuditEvent))
    assert "Half Saved School" not in names
    assert "Saved School" in names
    assert events == 1
