"""Recording audit events: the event's row in the caller's transaction and nothing else (no
lock, no chain or tree work), then one place each in the Merkle tree once the sequencer has
passed, in the order the events' transactions committed."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from loopback.databases import create_database, drop_database, migrated_engine
from portal import db
from portal.audit import AuditAction, record_event
from portal.audit.chain import canonical_encoding
from portal.audit.record import NewEvent, event_fields, record_events
from portal.auth.policy import PUBLIC, access
from portal.crypto import FileKeyring
from portal.models import AuditEvent, AuditLeaf, Organisation, OrganisationKind
from tests.conftest import both_backends
from tests.support.audit_log import sequence_all
from tests.support.audit_tree import assert_one_tree, expected_leaf_hash
from tests.support.statements import statements_run


def _transaction_id(session: Session) -> int | None:
    if session.get_bind().dialect.name != "postgresql":
        return None
    return int(session.scalar(sa.text("SELECT pg_current_xact_id()::text::bigint")))


@both_backends
def test_a_transactions_events_are_numbered_in_the_order_recorded(db_session: Session) -> None:
    recorded = [
        record_event(db_session, AuditAction.SIGN_IN, details={"attempt": index})
        for index in range(5)
    ]
    xact = _transaction_id(db_session)
    db_session.commit()

    events = list(db_session.scalars(sa.select(AuditEvent).order_by(AuditEvent.seq)))
    assert [event.details["attempt"] for event in events] == list(range(5))
    numbers = [event.seq for event in recorded]
    assert numbers == sorted(set(numbers))
    if xact is None:  # SQLite: one writer at a time, so the next number is the last + 1
        assert numbers == list(range(1, 6))
    # New events carry their transaction's id (PostgreSQL), and no chain hash.
    assert {(event.xact, event.prev_hash, event.hash) for event in events} == {(xact, None, None)}


@both_backends
def test_events_recorded_together_are_placed_once_each_in_order(db_session: Session) -> None:
    # Issue 20: a request's lasting reads (an inbox page's 25) are recorded in one go.
    record_event(db_session, AuditAction.SIGN_IN, details={"attempt": 0})
    together = [
        NewEvent(AuditAction.CHILD_DETAILS_VIEWED, object_id=f"DR-{n}", details={"n": n})
        for n in range(1, 4)
    ]
    made = record_events(db_session, together)
    record_event(db_session, AuditAction.SIGN_IN, details={"attempt": 4})
    db_session.commit()
    assert db_session.scalar(sa.select(sa.func.count()).select_from(AuditLeaf)) == 0

    events = list(db_session.scalars(sa.select(AuditEvent).order_by(AuditEvent.seq)))
    assert [event.object_id for event in events[1:4]] == ["DR-1", "DR-2", "DR-3"]
    assert [event.seq for event in made] == [event.seq for event in events[1:4]]
    # One transaction: its events enter the tree in the order it recorded them.
    assert assert_one_tree(db_session) == [event.seq for event in events]
    assert sequence_all(db_session) == 0  # nothing is placed twice
    with pytest.raises(TypeError):
        record_events(db_session, [NewEvent(AuditAction.SIGN_IN, details={"x": [1]})])  # type: ignore[dict-item]
    assert record_events(db_session, []) == []


@both_backends
def test_recording_takes_no_lock_and_does_no_tree_work(db_session: Session) -> None:
    with statements_run(db_session) as statements:
        record_events(
            db_session,
            [NewEvent(AuditAction.CHILD_DETAILS_VIEWED, object_id=f"DR-{n}") for n in range(25)],
        )
    # One round trip for the numbers (and, on PostgreSQL, the transaction's id), one insert.
    assert [statement.split()[0] for statement in statements] == ["SELECT", "INSERT"]
    everything = " ".join(statements).lower()
    for sign_of_shared_work in (
        "advisory",
        "for update",
        "audit_leaves",
        "audit_tree_nodes",
        "audit_sequencer_state",
    ):
        assert sign_of_shared_work not in everything


def test_a_leaf_hash_is_the_events_encoding_with_the_leaf_prefix(db_session: Session) -> None:
    event = record_event(db_session, AuditAction.SIGN_IN, details={"method": "demo"})
    sequence_all(db_session)
    stored = db_session.scalar(sa.select(AuditLeaf.hash).where(AuditLeaf.event_seq == event.seq))

    encoding = canonical_encoding(event_fields(event))
    assert stored == hashlib.sha256(b"\x00" + encoding).digest() == expected_leaf_hash(event)
    event.details = {"method": "forged"}  # in memory only: the table refuses updates
    assert expected_leaf_hash(event) != stored


@pytest.fixture
def committed_database(postgres_admin: Engine, keyring: FileKeyring) -> Iterator[Engine]:
    """A database of its own, whose transactions really commit (the test's are not nested)."""
    url = create_database(postgres_admin, "record")
    engine = migrated_engine(url, keyring)
    yield engine
    engine.dispose()
    drop_database(postgres_admin, url)


def _recorded(session: Session, writer: str) -> list[int]:
    made = record_events(
        session, [NewEvent(AuditAction.SIGN_IN, details={"writer": writer, "n": n}) for n in (0, 1)]
    )
    return [event.seq for event in made]


def _sequence(engine: Engine) -> int:
    with Session(engine) as session, session.begin():
        return sequence_all(session)


def test_events_enter_the_tree_in_commit_order_not_number_order(
    committed_database: Engine,
) -> None:
    engine = committed_database
    _sequence(engine)  # whatever the migration and keyring recorded
    with Session(engine) as first, Session(engine) as second:
        first_numbers = _recorded(first, "first")  # numbered first, committed last
        second_numbers = _recorded(second, "second")
        second.commit()
        # The first transaction is still running: its events wait; nothing waits on it.
        assert _sequence(engine) == 2
        first.commit()
    assert _sequence(engine) == 2
    assert max(first_numbers) < min(second_numbers)
    with Session(engine) as session:
        assert assert_one_tree(session)[-4:] == second_numbers + first_numbers


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
        # The rolled-back event never reaches the tree either: one event, one leaf.
        placed = assert_one_tree(session)
    assert "Half Saved School" not in names
    assert "Saved School" in names
    assert events == 1
    assert len(placed) == 1
