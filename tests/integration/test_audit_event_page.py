"""The audit event page says where the event is in the log (its leaf, or that it waits for the
sequencer), and for an event from before the tree log, its chain hashes, shown as code."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime

import sqlalchemy as sa
from flask import Flask
from sqlalchemy.orm import Session

from portal.audit import AuditAction, record_event
from portal.models import AuditEvent, AuditLeaf, AuditOutcome, OrganisationKind, Role, User
from tests.factories import make_organisation, make_user
from tests.support.audit_log import sequence_all
from tests.support.world import client_for


def _officer(db_session: Session) -> User:
    council = make_organisation(db_session, OrganisationKind.COUNCIL)
    return make_user(db_session, council, Role.IG_OFFICER)


def _leaf(db_session: Session, seq: int) -> int:
    index = db_session.scalar(sa.select(AuditLeaf.leaf_index).where(AuditLeaf.event_seq == seq))
    assert index is not None
    return index


def test_a_new_event_waits_for_its_place_then_shows_its_leaf(
    app: Flask, db_session: Session
) -> None:
    officer = _officer(db_session)
    event = record_event(db_session, AuditAction.DEMO_DATA_SEEDED)
    db_session.commit()
    client = client_for(app, officer)

    waiting = client.get(f"/audit/events/{event.seq}").get_data(as_text=True)
    assert "Waiting to be placed in the log" in waiting
    assert "chain hash" not in waiting  # new events have none

    sequence_all(db_session)
    db_session.commit()
    placed = client.get(f"/audit/events/{event.seq}").get_data(as_text=True)
    assert re.search(rf"Leaf {_leaf(db_session, event.seq)}(?!\d)", placed)
    assert "Waiting to be placed" not in placed


def test_a_legacy_events_chain_hashes_are_shown_as_code(app: Flask, db_session: Session) -> None:
    officer = _officer(db_session)
    # As migration 0013 found it: an event of the hash chain, which became one of the leaves.
    # (The migration placed those itself; here the sequencer does, given the transaction's id.)
    seq, xact = db_session.execute(
        sa.text("SELECT nextval('audit_event_numbers'), pg_current_xact_id()::text::bigint")
    ).one()
    previous, own = hashlib.sha256(b"before").digest(), hashlib.sha256(b"this").digest()
    db_session.add(
        AuditEvent(
            seq=seq,
            occurred_at=datetime(2026, 3, 1, 9, 30, tzinfo=UTC),
            action=AuditAction.DEMO_DATA_SEEDED.value,
            outcome=AuditOutcome.SUCCESS,
            details={},
            xact=xact,
            prev_hash=previous,
            hash=own,
        )
    )
    sequence_all(db_session)
    db_session.commit()

    page = client_for(app, officer).get(f"/audit/events/{seq}").get_data(as_text=True)

    assert "&lt;code" not in page and "&lt;/code&gt;" not in page
    for digest in (previous.hex(), own.hex()):
        assert f'<code class="portal-break">{digest}</code>' in page
    assert "Previous event’s chain hash" in page and "This event’s chain hash" in page
    assert re.search(rf"Leaf {_leaf(db_session, seq)}(?!\d)", page)
