"""Who is signed in costs one statement a request: the server-side session, the person, their
organisation and their roles are read together, in the request's own transaction
(portal/auth/sessions.py), and the person is not loaded again. Counted on the real app."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from portal.models import OrganisationKind, OrganisationStatus, Role
from tests.factories import make_organisation, make_user, sign_in
from tests.integration.test_sessions import session_row
from tests.support.world import World, client_for, issue

# The test's transaction makes every commit a savepoint: not the app's own statements.
SAVEPOINTS = ("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT")


@contextmanager
def statements(connection: Connection) -> Iterator[list[str]]:
    """Every statement the app runs meanwhile (its sessions are bound to `connection`)."""
    ran: list[str] = []

    def executing(_conn: Connection, _cursor: Any, statement: str, *_args: Any) -> None:
        if not statement.startswith(SAVEPOINTS):
            ran.append(" ".join(statement.split()))

    sa.event.listen(connection, "before_cursor_execute", executing)
    try:
        yield ran
    finally:
        sa.event.remove(connection, "before_cursor_execute", executing)


def test_a_signed_in_page_reads_the_session_person_and_roles_in_one_statement(
    app: Flask, client: FlaskClient, db_session: Session, connection: Connection
) -> None:
    school = make_organisation(db_session, OrganisationKind.SCHOOL, "Ashby Lane Primary")
    lead = make_user(db_session, school, Role.PARTNER_LEAD)
    db_session.commit()
    sign_in(app, client, lead)
    client.get("/cookies")  # its sign-out form's token is now in the session

    with statements(connection) as ran:
        page = client.get("/cookies")  # a page with no data of its own

    assert page.status_code == 200
    assert "Signed in as" in page.get_data(as_text=True)
    selects = [statement for statement in ran if statement.startswith("SELECT")]
    assert len(selects) == 1, selects
    assert selects[0].startswith("SELECT web_sessions.")
    for table in ("users", "organisations", "role_assignments"):
        assert f"LEFT OUTER JOIN {table} ON" in selects[0], (table, selects)
    # The request's one transaction (its statement timeout, then the read), and nothing else.
    assert [s.split()[0] for s in ran] == ["SET", "SELECT"], ran


def test_a_suspended_organisations_person_is_signed_out_at_their_next_request(
    app: Flask, client: FlaskClient, db_session: Session
) -> None:
    school = make_organisation(db_session, OrganisationKind.SCHOOL, "Ashby Lane Primary")
    teacher = make_user(db_session, school, Role.PARTNER_CONTRIBUTOR)
    db_session.commit()
    token = sign_in(app, client, teacher)
    assert client.get("/inbox").status_code == 200
    school.status = OrganisationStatus.SUSPENDED
    db_session.commit()

    assert client.get("/inbox").status_code == 302  # to sign in
    assert session_row(db_session, token) is None


def test_a_partners_request_page_reads_only_what_it_shows(
    app: Flask, world: World, connection: Connection
) -> None:
    """The busiest partner page: who is signed in, the request with its case and team, the
    children, the versions, what the partner said of each child (read once, for the children,
    whether any is still to confirm and whether they are fixed), the two people it names (their
    names and addresses, not their roles), and its read on the audit trail; no colleague list
    for a contributor, who cannot pass the request on."""
    reference = issue(app, world)
    client = client_for(app, world.teacher)
    client.get(f"/inbox/{reference}")  # the session's form token is written on the first visit
    with statements(connection) as ran:
        assert client.get(f"/inbox/{reference}").status_code == 200
    assert len(ran) <= 11, ran
    assert sum("INSERT INTO request_openings" in statement for statement in ran) == 1, ran
    assert sum("FROM role_assignments" in statement for statement in ran) == 0, ran
    assert any(statement.startswith("INSERT INTO audit_events") for statement in ran)
