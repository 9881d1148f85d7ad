"""The pilot's pages checked like every other (axe, reflow at 320 pixels, ids used once, no
markup shown as text): the figures with their three charts, the feedback page and the
"answered outside the portal" page.

The demo the stack runs has no pilot history of its own and no partner engagement officer
yet, so each page is made by the portal's own app on the stack's database, inside a
transaction rolled back afterwards, with a constructed data set (tests/support/
pilot_data.py); the browser is handed that response at a portal address, and its styles and
scripts come from the stack as for any page (as for the server error's page)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from playwright.sync_api import Route, expect
from sqlalchemy.orm import Session, sessionmaker

from portal import create_app, db
from portal.crypto import FileKeyring
from portal.crypto.records import RecordCipher
from portal.lifecycle import ContributionStatus
from portal.models import Contribution, Feedback, OrganisationKind, Role
from tests.conftest import test_settings
from tests.factories import make_case, make_organisation, make_request, make_user, sign_in
from tests.support.people import Person
from tests.support.pilot_data import build_pilot_data
from tests.support.portal_stack import PortalStack

People = Callable[..., Person]


@dataclass
class Rendered:
    status: int
    headers: dict[str, str]
    body: bytes


@pytest.fixture(scope="module")
def pages(
    stack: PortalStack, keyring: FileKeyring, keyring_path: Path, audit_key_path: Path
) -> Iterator[dict[str, Rendered]]:
    app = create_app(
        test_settings(
            stack.engine.url.render_as_string(False),
            keyring_path,
            audit={"signing_key_file": str(audit_key_path)},
        ),
        check_database=False,
    )
    with stack.engine.connect() as connection:
        outer = connection.begin()
        db.database(app).sessions = sessionmaker(
            bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
        )
        session = Session(bind=connection, join_transaction_mode="create_savepoint")
        try:
            yield _render(app, session, RecordCipher(keyring, session))
        finally:
            session.close()
            outer.rollback()
            db.database(app).engine.dispose()


def _render(app: Flask, session: Session, cipher: RecordCipher) -> dict[str, Rendered]:
    data = build_pilot_data(session, cipher)
    council = make_organisation(session, OrganisationKind.COUNCIL, "Pilot Browser Council")
    officer = make_user(session, council, Role.PARTNER_ENGAGEMENT_OFFICER)
    case, _child = make_case(session, cipher, "Amelia Hart")
    worker = make_user(session, case.team.organisation, Role.SOCIAL_WORKER, team=case.team)
    teacher = make_user(session, data.school, Role.PARTNER_CONTRIBUTOR)
    open_request = make_request(session, cipher, case, data.school, worker)
    sent = make_request(session, cipher, case, data.school, worker)
    versions = [
        Contribution(
            request_id=request_.id,
            version=1,
            status=ContributionStatus.SUBMITTED,
            created_by_id=teacher.id,
            submitted_by_id=teacher.id,
            submitted_at=datetime.now(UTC),
        )
        for request_ in (sent, make_request(session, cipher, case, data.school, worker))
    ]
    session.add_all(versions)
    session.flush()
    # Feedback with a comment on the second (the first's feedback page must still ask).
    feedback = Feedback(contribution_id=versions[1].id, organisation_id=data.school.id, rating=2)
    cipher.seal_text(feedback, "comment_enc", "The upload page was slow")
    session.add(feedback)
    session.commit()

    def get(user: object, path: str) -> Rendered:
        client: FlaskClient = app.test_client()
        sign_in(app, client, user)  # type: ignore[arg-type]
        response = client.get(path)
        assert response.status_code == 200, (path, response.status_code)
        return Rendered(200, dict(response.headers), response.get_data())

    return {
        "/pilot?first=2026-01&last=2026-04": get(officer, "/pilot?first=2026-01&last=2026-04"),
        "/requests/answered-elsewhere": get(
            worker, f"/requests/{open_request.reference}/answered-elsewhere"
        ),
        "/inbox/feedback": get(teacher, f"/inbox/{sent.reference}/receipts/1/feedback"),
        "/pilot/feedback": get(officer, "/pilot/feedback"),
    }


@pytest.mark.parametrize(
    ("path", "heading"),
    [
        ("/pilot?first=2026-01&last=2026-04", "Pilot figures"),
        ("/requests/answered-elsewhere", "Record that this request was answered outside"),
        ("/inbox/feedback", "Give feedback on this service"),
        ("/pilot/feedback", "Partners’ comments on the service"),
    ],
)
def test_the_pilot_pages(
    people: People, stack: PortalStack, pages: dict[str, Rendered], path: str, heading: str
) -> None:
    rendered = pages[path]
    person = people()

    def hand_over(route: Route) -> None:
        route.fulfill(status=rendered.status, headers=rendered.headers, body=rendered.body)

    address = f"{stack.portal_url}/test-only/pilot{path.split('?')[0]}"
    person.page.route(address, hand_over)
    person.go(f"/test-only/pilot{path.split('?')[0]}")
    expect(person.page.get_by_role("heading", name=heading).first).to_be_visible()
    if path.startswith("/pilot?"):
        expect(person.page.locator("figure svg[role=img]")).to_have_count(3)
    person.check()
