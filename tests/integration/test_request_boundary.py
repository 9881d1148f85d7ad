"""The request boundary (portal/db.py) owns every commit in a web request.

A request's work commits only when its response succeeds. Events queued with
record_lasting_event stay on the record whatever the response: in the request's transaction
when it commits, in a transaction of their own when the response is an error, and not at all
when the database failed under the request (that page was never shown).
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from flask import Flask, abort
from sqlalchemy.orm import Session
from werkzeug.datastructures import MultiDict

from portal import db
from portal.audit import AuditAction, record_event, record_lasting_event
from portal.auth.policy import PUBLIC, access
from portal.models import AuditEvent, DelegationRequest, Organisation, OrganisationKind
from tests.conftest import both_backends
from tests.factories import csrf_token
from tests.support.world import World, client_for


def recorded(session: Session) -> list[str]:
    session.expire_all()
    return list(session.scalars(sa.select(AuditEvent.action).order_by(AuditEvent.seq)))


def organisations_named(session: Session, name: str) -> int:
    query = sa.select(sa.func.count()).select_from(Organisation).where(Organisation.name == name)
    return int(session.scalar(query) or 0)


def _add_routes(app: Flask) -> None:
    def change_and_read() -> None:
        session = db.session()
        session.add(Organisation(name="Boundary School", kind=OrganisationKind.SCHOOL))
        record_event(session, AuditAction.ORGANISATION_CHANGED)
        record_lasting_event(AuditAction.REQUEST_VIEWED, object_id="DR-BOUNDARY")

    @app.get("/test-only/read-then-succeed")
    @access(PUBLIC)
    def read_then_succeed() -> str:
        change_and_read()
        return "done"

    @app.get("/test-only/read-then-refuse")
    @access(PUBLIC)
    def read_then_refuse() -> tuple[str, int]:
        change_and_read()
        return "sent back", 400

    @app.get("/test-only/read-then-abort")
    @access(PUBLIC)
    def read_then_abort() -> str:
        change_and_read()
        abort(404)

    @app.get("/test-only/read-then-crash")
    @access(PUBLIC)
    def read_then_crash() -> str:
        change_and_read()
        raise RuntimeError("a bug after the read")

    @app.get("/test-only/read-then-lose-the-database")
    @access(PUBLIC)
    def read_then_lose_the_database() -> str:
        change_and_read()
        db.session().execute(sa.text("SELECT * FROM no_such_table"))
        return "never"

    @app.get("/test-only/read-then-fail-to-commit")
    @access(PUBLIC)
    def read_then_fail_to_commit() -> str:
        change_and_read()

        def refuse(_session: Session) -> None:
            raise RuntimeError("a row changed under the commit")

        sa.event.listen(db.session(), "before_commit", refuse, once=True)
        return "never sent"

    @app.get("/test-only/read-only")
    @access(PUBLIC)
    def read_only() -> str:
        record_lasting_event(AuditAction.REQUEST_VIEWED, object_id="DR-BOUNDARY")
        return "read"


@both_backends
def test_on_success_the_change_its_event_and_the_read_commit_together(
    app: Flask, db_session: Session
) -> None:
    _add_routes(app)
    assert app.test_client().get("/test-only/read-then-succeed").status_code == 200
    assert recorded(db_session) == ["organisation_changed", "request_viewed"]
    assert organisations_named(db_session, "Boundary School") == 1


@both_backends
@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/test-only/read-then-refuse", 400),
        ("/test-only/read-then-abort", 404),
        ("/test-only/read-then-crash", 500),
        ("/test-only/read-then-fail-to-commit", 500),
    ],
)
def test_an_error_response_keeps_only_the_read(
    app: Flask, db_session: Session, path: str, status: int
) -> None:
    _add_routes(app)
    assert app.test_client().get(path).status_code == status
    assert recorded(db_session) == ["request_viewed"]
    assert organisations_named(db_session, "Boundary School") == 0


def test_a_read_needs_no_other_work_in_the_request(app: Flask, db_session: Session) -> None:
    _add_routes(app)
    assert app.test_client().get("/test-only/read-only").status_code == 200
    [event] = db_session.scalars(sa.select(AuditEvent)).all()
    assert (event.action, event.object_id) == ("request_viewed", "DR-BOUNDARY")
    assert event.request_id  # written inside the request: it carries the request's id


def test_a_page_the_database_failed_under_keeps_nothing(app: Flask, db_session: Session) -> None:
    _add_routes(app)
    assert app.test_client().get("/test-only/read-then-lose-the-database").status_code == 503
    assert recorded(db_session) == []
    assert organisations_named(db_session, "Boundary School") == 0


def test_a_lasting_event_outside_a_web_request_is_refused(app: Flask) -> None:
    with app.app_context(), pytest.raises(RuntimeError):
        record_lasting_event(AuditAction.REQUEST_VIEWED)


def test_queued_details_are_checked_where_they_are_made(app: Flask) -> None:
    with app.test_request_context(), pytest.raises(TypeError):
        record_lasting_event(AuditAction.REQUEST_VIEWED, details={"answers": ["text"]})  # type: ignore[dict-item]


def test_a_form_sent_back_with_errors_keeps_the_read_of_the_childrens_details(
    app: Flask, world: World, db_session: Session
) -> None:
    client = client_for(app, world.worker)
    token = csrf_token(client.get("/requests/new/NCC-555001").get_data(as_text=True))
    before = recorded(db_session).count("child_details_viewed")
    sent_back = client.post(
        "/requests/new/NCC-555001",
        data=MultiDict([("csrf_token", token), ("step", "issue"), ("purpose", "")]),
    )
    assert sent_back.status_code == 400
    assert recorded(db_session).count("child_details_viewed") == before + 1
    assert db_session.scalar(sa.select(sa.func.count()).select_from(DelegationRequest)) == 0
