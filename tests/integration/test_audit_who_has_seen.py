"""'Who has seen this child's information' from a case search: by case reference or by the
child's CMS person id, to the case's access report or one child's, every step on the trail."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from portal.audit import AuditAction, case_lookup, record_event
from portal.auth.login import actor_for
from portal.crypto import FileKeyring
from portal.crypto.records import RecordCipher
from portal.models import AuditEvent, Child, DelegationRequest, OrganisationKind, Role, User
from tests.factories import make_case, make_organisation, make_request, make_user, sign_in


@dataclass
class Family:
    reference: str
    first: Child  # named on request_1 only
    second: Child  # named on request_2 only
    request_1: DelegationRequest
    request_2: DelegationRequest
    school_reader: User  # read request_1 (first child)
    police_reader: User  # read request_2 (second child)
    worker: User  # read the case page (every child)


Read = tuple[User, AuditAction, str, str, dict[str, Any]]


def record_reads(db_session: Session, case_reference: str, reads: list[Read]) -> None:
    """Each read (who, what, of which object, with which details) on the case's trail."""
    for who, action, object_type, object_id, details in reads:
        record_event(
            db_session,
            action,
            actor=actor_for(who),
            object_type=object_type,
            object_id=object_id,
            case_reference=case_reference,
            details=details,
        )
    db_session.commit()


@pytest.fixture
def family(db_session: Session, keyring: FileKeyring) -> Family:
    cipher = RecordCipher(keyring, db_session)
    case, first = make_case(db_session, cipher, "Amelia Hart")
    first.cms_person_id = f"P-{uuid.uuid4().hex[:6]}"
    second = Child(case=case, position=1, cms_person_id=f"P-{uuid.uuid4().hex[:6]}")
    cipher.seal_text(second, "name_enc", "Oliver Hart")
    cipher.seal_text(second, "date_of_birth_enc", "2017-01-02")
    db_session.add(second)
    school = make_organisation(db_session, OrganisationKind.SCHOOL)
    police = make_organisation(db_session, OrganisationKind.POLICE)
    council = make_organisation(db_session, OrganisationKind.COUNCIL)
    worker = make_user(db_session, council, Role.SOCIAL_WORKER)
    request_1 = make_request(db_session, cipher, case, school, worker)
    request_1.children = [first]
    request_2 = make_request(db_session, cipher, case, police, worker)
    request_2.children = [second]
    school_reader = make_user(db_session, school, Role.PARTNER_CONTRIBUTOR)
    police_reader = make_user(db_session, police, Role.PARTNER_CONTRIBUTOR)
    db_session.flush()
    ref = case.cms_reference
    reads: list[Read] = [
        (school_reader, AuditAction.REQUEST_VIEWED, "delegation_request", request_1.reference, {}),
        (police_reader, AuditAction.REQUEST_VIEWED, "delegation_request", request_2.reference, {}),
        (
            worker,
            AuditAction.CONTRIBUTION_VIEWED,
            "contribution",
            str(uuid.uuid4()),
            {"request": request_2.reference, "version": 1},
        ),
        (worker, AuditAction.CHILD_DETAILS_VIEWED, "case", ref, {}),
    ]
    record_reads(db_session, ref, reads)
    return Family(ref, first, second, request_1, request_2, school_reader, police_reader, worker)


@pytest.fixture
def ig(app: Flask, client: FlaskClient, db_session: Session) -> FlaskClient:
    officer = make_user(
        db_session, make_organisation(db_session, OrganisationKind.COUNCIL), Role.IG_OFFICER
    )
    db_session.commit()
    sign_in(app, client, officer)
    return client


def last_event(db_session: Session) -> AuditEvent:
    db_session.expire_all()
    found = db_session.scalars(sa.select(AuditEvent).order_by(AuditEvent.seq.desc())).first()
    assert found is not None
    return found


def test_a_case_search_lists_the_children_by_person_id_never_by_name(
    ig: FlaskClient, family: Family, db_session: Session
) -> None:
    page = ig.get(f"/audit/cases?case_reference={family.reference}").get_data(as_text=True)
    assert f"/audit/cases/{family.reference}/access" in page
    for child in (family.first, family.second):
        assert f"child={child.cms_person_id}" in page
    assert "Hart" not in page  # names are neither decrypted nor shown
    searched = last_event(db_session)
    assert searched.action == AuditAction.AUDIT_SEARCHED.value
    assert searched.case_reference == family.reference
    assert searched.details == {"case_search": True, "person_id_filter": False, "found": 1}


def test_a_person_id_search_finds_the_case_and_is_not_recorded_as_text(
    ig: FlaskClient, family: Family, db_session: Session
) -> None:
    person_id = family.second.cms_person_id
    page = ig.get(f"/audit/cases?person_id={person_id}").get_data(as_text=True)
    assert f"/audit/cases/{family.reference}/access?child={person_id}" in page
    searched = last_event(db_session)
    # The case it found is named (the portal holds its reference); the typed id never is.
    assert searched.case_reference == family.reference
    assert person_id not in str(searched.details)
    assert searched.details["person_id_filter"] is True and searched.details["found"] == 1


def test_a_person_id_on_two_cases_records_a_search_on_each(
    ig: FlaskClient, family: Family, db_session: Session, keyring: FileKeyring
) -> None:
    other, child = make_case(db_session, RecordCipher(keyring, db_session), "Amelia Hart")
    child.cms_person_id = family.first.cms_person_id
    db_session.commit()
    ig.get(f"/audit/cases?person_id={family.first.cms_person_id}")
    db_session.expire_all()
    searches = db_session.scalars(
        sa.select(AuditEvent)
        .where(AuditEvent.action == AuditAction.AUDIT_SEARCHED.value)
        .order_by(AuditEvent.seq.desc())
        .limit(2)
    ).all()
    assert {event.case_reference for event in searches} == {family.reference, other.cms_reference}
    assert all(event.details["found"] == 2 for event in searches)
    ig.get("/audit/cases?person_id=P-on-no-case")
    nothing = last_event(db_session)
    assert nothing.case_reference is None and nothing.details["found"] == 0


def test_a_search_with_both_boxes_filled_is_refused_with_an_error_summary(
    ig: FlaskClient, family: Family
) -> None:
    answer = ig.get(
        f"/audit/cases?case_reference={family.reference}&person_id={family.first.cms_person_id}"
    )
    page = answer.get_data(as_text=True)
    assert answer.status_code == 400 and "govuk-error-summary" in page
    assert "not both" in page and "<title>Error:" in page


def test_more_matches_than_shown_says_it_shows_the_first(
    ig: FlaskClient, family: Family, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(case_lookup, "MAX_MATCHES", 1)
    page = ig.get(f"/audit/cases?case_reference={family.reference}").get_data(as_text=True)
    assert "more than 1 children: showing the first 1" in page
    assert f"child={family.first.cms_person_id}" in page
    assert f"child={family.second.cms_person_id}" not in page


def test_a_child_without_a_person_id_has_a_report_by_place_on_the_case(
    ig: FlaskClient, family: Family, db_session: Session
) -> None:
    family.second.cms_person_id = None
    db_session.commit()
    page = ig.get(f"/audit/cases?case_reference={family.reference}").get_data(as_text=True)
    link = f"/audit/cases/{family.reference}/access?position=2"
    assert link in page
    report = ig.get(link).get_data(as_text=True)
    assert "child 2 (no CMS person id)" in report
    assert family.police_reader.email in report and family.school_reader.email not in report
    assert ig.get(f"/audit/cases/{family.reference}/access?position=1").status_code == 404
    assert ig.get(f"/audit/cases/{family.reference}/access?position=x").status_code == 404


def test_one_childs_report_holds_reads_about_them_and_of_the_whole_case(
    ig: FlaskClient, family: Family, db_session: Session
) -> None:
    whole = ig.get(f"/audit/cases/{family.reference}/access").get_data(as_text=True)
    for person in (family.school_reader, family.police_reader, family.worker):
        assert person.email in whole
    first = ig.get(
        f"/audit/cases/{family.reference}/access?child={family.first.cms_person_id}"
    ).get_data(as_text=True)
    assert family.school_reader.email in first and family.worker.email in first
    assert family.police_reader.email not in first
    assert family.request_1.reference in first and family.request_2.reference not in first
    viewed = last_event(db_session)
    assert viewed.action == AuditAction.AUDIT_ACCESS_REPORT_VIEWED.value
    assert viewed.case_reference == family.reference
    assert viewed.details == {"people": 2, "child": 1}
    second = ig.get(
        f"/audit/cases/{family.reference}/access?child={family.second.cms_person_id}"
    ).get_data(as_text=True)
    # The worker read request 2's contribution and the case page; the school read nothing of it.
    assert family.police_reader.email in second and family.worker.email in second
    assert family.school_reader.email not in second
    assert "on the request naming them" in second  # one request: not "one of the 1"


def test_one_childs_report_holds_downloads_and_list_reads_and_no_other_childs(
    ig: FlaskClient, family: Family, db_session: Session
) -> None:
    downloader = make_user(db_session, make_organisation(db_session), Role.PARTNER_CONTRIBUTOR)
    inbox_reader = make_user(db_session, make_organisation(db_session), Role.PARTNER_LEAD)
    list_reader = make_user(db_session, make_organisation(db_session), Role.SOCIAL_WORKER)
    first, second = family.request_1.reference, family.request_2.reference
    record_reads(
        db_session,
        family.reference,
        [
            (
                downloader,
                AuditAction.ATTACHMENT_DOWNLOADED,
                "attachment",
                str(uuid.uuid4()),
                {"request": first, "version": 1},
            ),
            (
                inbox_reader,
                AuditAction.CHILD_DETAILS_VIEWED,
                "delegation_request",
                first,
                {"shown_in": "inbox"},
            ),
            (
                list_reader,
                AuditAction.CHILD_DETAILS_VIEWED,
                "delegation_request",
                second,
                {"shown_in": "my_requests"},
            ),
        ],
    )
    report = ig.get(
        f"/audit/cases/{family.reference}/access?child={family.first.cms_person_id}"
    ).get_data(as_text=True)
    assert downloader.email in report and inbox_reader.email in report
    assert list_reader.email not in report  # the list showed the other child's request
    other = ig.get(
        f"/audit/cases/{family.reference}/access?child={family.second.cms_person_id}"
    ).get_data(as_text=True)
    assert list_reader.email in other
    assert downloader.email not in other and inbox_reader.email not in other


def test_a_child_no_request_names_says_so_never_one_of_0(
    ig: FlaskClient, family: Family, db_session: Session
) -> None:
    family.request_2.children = [family.first]
    db_session.commit()
    page = ig.get(
        f"/audit/cases/{family.reference}/access?child={family.second.cms_person_id}"
    ).get_data(as_text=True)
    assert "No request names this child" in page and "of the 0" not in page


def test_a_child_not_on_the_case_is_not_found(ig: FlaskClient, family: Family) -> None:
    answer = ig.get(f"/audit/cases/{family.reference}/access?child=P-not-there")
    assert answer.status_code == 404


def test_an_unknown_case_says_so_and_the_typed_text_stays_off_the_trail(
    ig: FlaskClient, db_session: Session
) -> None:
    typed = f"Amelia-{uuid.uuid4().hex[:6]}"  # a name typed into the wrong box
    page = ig.get(f"/audit/cases?case_reference={typed}").get_data(as_text=True)
    assert f"No case with reference {typed}" in page
    assert last_event(db_session).case_reference is None
    report = ig.get(f"/audit/cases/{typed}/access").get_data(as_text=True)
    assert f"The audit trail holds no events for case {typed}" in report
    viewed = last_event(db_session)
    assert viewed.action == AuditAction.AUDIT_ACCESS_REPORT_VIEWED.value
    assert viewed.case_reference is None and typed not in str(viewed.details)


def test_a_search_with_nothing_typed_asks_for_something(ig: FlaskClient) -> None:
    answer = ig.get("/audit/cases?case_reference=&person_id=")
    assert answer.status_code == 400
    assert "Enter a case reference or a child’s CMS person id" in answer.get_data(as_text=True)
    assert ig.get("/audit/cases").status_code == 200


def test_the_ig_navigation_and_trail_page_link_to_the_search(ig: FlaskClient) -> None:
    page = ig.get("/audit").get_data(as_text=True)
    assert 'href="/audit/cases"' in page and 'href="/audit/check-export"' in page
