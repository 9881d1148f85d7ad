"""One log, whoever writes: several processes at once, denials on the record, and no action
without its event."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from loopback.databases import create_database, drop_database, migrated_engine
from portal import db
from portal.audit import AuditAction
from portal.audit.sequencer import sequence_pending
from portal.crypto import FileKeyring
from portal.models import AuditEvent, AuditOutcome, OrganisationKind, Role, User, UserStatus
from tests.factories import csrf_token, make_organisation, make_user, sign_in
from tests.support.audit_tree import assert_one_tree

WRITERS = 4
EVENTS_EACH = 40
WRITER = textwrap.dedent(
    """
    import sys
    from sqlalchemy.orm import Session
    from portal import db
    from portal.audit import AuditAction, record_event

    engine = db.make_engine(sys.argv[1])
    for index in range(int(sys.argv[2])):
        with Session(engine) as session, session.begin():
            record_event(session, AuditAction.SIGN_IN, details={"writer": sys.argv[3], "n": index})
    engine.dispose()
    """
)


@pytest.fixture
def committed_database(postgres_admin: Engine, keyring: FileKeyring) -> Iterator[str]:
    url = create_database(postgres_admin, "chain")
    migrated_engine(url, keyring).dispose()
    yield url
    drop_database(postgres_admin, url)


def test_several_processes_writing_at_once_make_one_tree_with_every_event_once(
    committed_database: str,
) -> None:
    writers = [
        subprocess.Popen(  # noqa: S603 - our own interpreter and script
            [sys.executable, "-c", WRITER, committed_database, str(EVENTS_EACH), str(number)],
            stderr=subprocess.PIPE,
            text=True,
        )
        for number in range(WRITERS)
    ]
    engine = db.make_engine(committed_database)
    try:
        # The sequencer's passes run while the writers write, as the running one would.
        while any(writer.poll() is None for writer in writers):
            with Session(engine) as session, session.begin():
                sequence_pending(session)
            time.sleep(0.02)
        for writer in writers:
            _out, errors = writer.communicate(timeout=120)
            assert writer.returncode == 0, errors
        with Session(engine) as session, session.begin():
            in_tree_order = assert_one_tree(session)
            # Each event's writer and position, as the writers recorded them.
            written = {
                seq: details
                for seq, details in session.execute(
                    sa.select(AuditEvent.seq, AuditEvent.details).where(
                        AuditEvent.action == AuditAction.SIGN_IN.value
                    )
                )
            }
    finally:
        engine.dispose()

    # Numbers are unique (the primary key) but not checked for gaps: on PostgreSQL they come
    # from a sequence, whose numbers a rolled-back transaction does not give back, and are taken
    # when an event is recorded, not when it commits. The tree's leaf indices are what is gapless.
    assert len(written) == WRITERS * EVENTS_EACH
    in_order = [written[seq] for seq in in_tree_order if seq in written]
    for number in range(WRITERS):
        # Each writer commits its events one after another: the tree holds them in that order.
        mine = [details["n"] for details in in_order if details["writer"] == str(number)]
        assert mine == list(range(EVENTS_EACH))


def test_a_permission_denial_is_recorded(app: Flask, db_session: Session) -> None:
    @app.get("/test-only/ig-only")
    def ig_only() -> str:
        return "secret"

    from portal.auth.policy import access, roles

    app.view_functions["ig_only"] = access(roles(Role.IG_OFFICER))(ig_only)
    client = app.test_client()
    worker = make_user(db_session, make_organisation(db_session), Role.SOCIAL_WORKER)
    sign_in(app, client, worker)
    assert client.get("/test-only/ig-only").status_code == 403

    db_session.expire_all()
    event = db_session.scalar(
        sa.select(AuditEvent).where(AuditEvent.action == AuditAction.PERMISSION_DENIED.value)
    )
    assert event is not None
    assert event.outcome == AuditOutcome.DENIED
    assert event.actor_user_id == worker.id and event.object_id == "ig_only"


def test_an_action_whose_audit_write_fails_leaves_no_trace(
    app: Flask, client: FlaskClient, db_session: Session
) -> None:
    school = make_organisation(db_session, OrganisationKind.SCHOOL)
    lead = make_user(db_session, school, Role.PARTNER_LEAD)
    newcomer = make_user(db_session, school, status=UserStatus.PENDING)
    db_session.commit()
    sign_in(app, client, lead)
    page = client.get(f"/people/{newcomer.id}").get_data(as_text=True)

    # The database refuses the next audit event, as a full disk or a lost connection would.
    db_session.execute(
        sa.text(
            "CREATE FUNCTION refuse_audit() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN RAISE EXCEPTION 'audit write failed'; END; $$"
        )
    )
    db_session.execute(
        sa.text(
            "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_events "
            "FOR EACH ROW EXECUTE FUNCTION refuse_audit()"
        )
    )
    answer = client.post(
        f"/people/{newcomer.id}/approve",
        data={"csrf_token": csrf_token(page), "roles": Role.PARTNER_CONTRIBUTOR.value},
    )
    assert answer.status_code in (500, 503)
    assert "Traceback" not in answer.get_data(as_text=True)

    db_session.expire_all()
    person = db_session.get(User, newcomer.id)
    assert person is not None and person.status == UserStatus.PENDING and not person.roles
