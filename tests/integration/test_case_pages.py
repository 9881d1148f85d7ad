"""The case pages open no more than they show and put on the record no more than one read a
case: a case's page decrypts its children's names and dates of birth, never the identifiers
it does not show; it is one read of the children's details, none where no child is named.
"Your cases" counts the requests awaiting review and puts those cases first, and says who a
case is allocated to, or that it is not. A request's page links its case only where the
case's page opens for the viewer."""

from __future__ import annotations

from datetime import date

from flask import Flask
from sqlalchemy.orm import Session

from portal.crypto import FileKeyring
from portal.crypto.records import RecordCipher, Sealed
from portal.lifecycle import RequestStatus
from portal.models import Role
from portal.requests import case_pages
from tests.factories import make_user, sign_in
from tests.integration.test_my_requests import Council, children_read, team_case


class OpenedColumns(RecordCipher):
    """A cipher that notes each column it opens."""

    opened: list[str]

    def open_text(self, record: Sealed, column: str) -> str | None:
        self.opened.append(column)
        return super().open_text(record, column)


def test_a_case_page_opens_only_the_names_and_dates_of_birth(
    app: Flask, db_session: Session, keyring: FileKeyring
) -> None:
    council = Council(db_session, keyring)
    for child in council.east_case.children:
        council.cipher.seal_text(child, "nhs_number_enc", "9434765919")
        council.cipher.seal_text(child, "upn_enc", "A123456789012")
    council.request(council.east_case)
    db_session.commit()
    spy = OpenedColumns(keyring, db_session)
    spy.opened = []

    with app.test_request_context():
        page = case_pages.case_page(
            db_session, spy, council.worker, council.east_case.cms_reference, date.today()
        )

    assert page is not None
    assert [(c.name, c.date_of_birth) for c in page.children] == [
        ("Amelia Hart", date(2015, 3, 14)),
        ("Oliver Hart", date(2015, 3, 14)),
    ]
    assert spy.opened and set(spy.opened) <= {"name_enc", "date_of_birth_enc"}, spy.opened


def test_a_case_page_naming_no_child_reads_nothing(
    app: Flask, db_session: Session, keyring: FileKeyring
) -> None:
    council = Council(db_session, keyring)
    empty = team_case(db_session, council.cipher, council.east)
    asked = council.request(empty)
    db_session.commit()
    client = app.test_client()
    sign_in(app, client, council.worker)

    page = client.get(f"/cases/{empty.cms_reference}").get_data(as_text=True)
    assert asked.reference in page
    assert "lists no children on this case" in page
    listed = client.get("/requests").get_data(as_text=True)
    assert asked.reference in listed
    assert children_read(db_session) == []


def test_your_cases_counts_and_puts_first_those_awaiting_review(
    app: Flask, db_session: Session, keyring: FileKeyring
) -> None:
    council = Council(db_session, keyring)
    waiting = team_case(db_session, council.cipher, council.east, "Isla Moss")
    council.request(council.east_case)
    council.request(waiting, status=RequestStatus.SUBMITTED)
    colleague = make_user(db_session, council.council, Role.SOCIAL_WORKER, team=council.east)
    council.east_case.allocated_worker_id = colleague.id
    db_session.commit()

    with app.test_request_context():
        page = case_pages.team_cases_page(db_session, council.cipher, council.worker)
    assert page is not None
    assert [(r.reference, r.awaiting_review, r.open_requests, r.allocated) for r in page.rows] == [
        (waiting.cms_reference, 1, 0, False),
        (council.east_case.cms_reference, 0, 1, True),
    ]
    client = app.test_client()
    sign_in(app, client, council.worker)
    html = client.get("/cases").get_data(as_text=True)
    assert "Awaiting review</th>" in html
    waiting_row = html[html.index(f">{waiting.cms_reference}<") :]
    assert waiting_row.index("Not allocated") < waiting_row.index("</tr>")
    east_row = html[html.index(f">{council.east_case.cms_reference}<") :]
    assert east_row.index("Someone else in the team") < east_row.index("</tr>")


def test_a_request_page_links_its_case_only_where_the_case_opens(
    app: Flask, db_session: Session, keyring: FileKeyring
) -> None:
    council = Council(db_session, keyring)
    east = council.request(council.east_case)
    moved = council.request(council.west_case)  # issued by the worker, the case's team another
    db_session.commit()
    client = app.test_client()
    sign_in(app, client, council.worker)

    east_page = client.get(f"/requests/{east.reference}").get_data(as_text=True)
    moved_page = client.get(f"/requests/{moved.reference}").get_data(as_text=True)

    assert f'href="/cases/{council.east_case.cms_reference}"' in east_page
    assert council.west_case.cms_reference in moved_page
    assert f'href="/cases/{council.west_case.cms_reference}"' not in moved_page
    assert client.get(f"/cases/{council.west_case.cms_reference}").status_code == 404
