"""What a social worker sees of each child's identity before issuing a request, through the
real pages on PostgreSQL: every identifier the CMS holds (or "not held"), the warnings for the
chosen partner's kind, and that no identifier reaches a URL or the audit trail."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.orm import Session
from werkzeug.datastructures import MultiDict

from portal.audit import AuditAction
from portal.crypto import FileKeyring
from portal.crypto.records import RecordCipher
from portal.models import AuditEvent, DelegationRequest, Organisation, OrganisationKind
from tests.factories import csrf_token
from tests.support.world import World, client_for, organisation, request_form

CASE_PAGE = "/requests/new/NCC-555001"
NOT_HELD = "Not held in the case management system"
# Amelia: everything the CMS can hold. Oliver: an NHS number, but no UPN and no person record.
AMELIA_NHS, AMELIA_UPN, OLIVER_NHS = "9990023417", "H801210119341", "9990023425"
IDENTIFYING = (AMELIA_NHS, "999 002 3417", AMELIA_UPN, OLIVER_NHS, "999 002 3425", "P-555001-1")
NO_RECORD = "Oliver Hart has no person record in the case management system"
NO_UPN = "holds no UPN for Oliver Hart: Ashby Lane Primary can only match the child"
NAME_ONLY = "can only match the child on name and date of birth"


@pytest.fixture
def family(world: World, db_session: Session, keyring: FileKeyring) -> World:
    """The world's two siblings as the CMS holds them, and a health trust and police force
    with sharing agreements."""
    cipher = RecordCipher(keyring, db_session)
    amelia, oliver = sorted(world.case.children, key=lambda child: child.position)
    amelia.cms_person_id = "P-555001-1"
    cipher.seal_text(amelia, "nhs_number_enc", AMELIA_NHS)
    cipher.seal_text(amelia, "upn_enc", AMELIA_UPN)
    cipher.seal_text(oliver, "nhs_number_enc", OLIVER_NHS)
    organisation(db_session, "Northmoor Health", OrganisationKind.HEALTH, True)
    organisation(db_session, "Northmoor Police", OrganisationKind.POLICE, True)
    db_session.commit()
    return world


def organisation_id(session: Session, name: str) -> str:
    return str(session.scalar(sa.select(Organisation.id).where(Organisation.name == name)))


def cards(html: str) -> dict[str, dict[str, str]]:
    """Each summary card's title and its rows, as the page shows them."""
    found = {}
    for title, body in re.findall(
        r'govuk-summary-card__title">\s*(.*?)\s*</h3>(.*?)</dl>', html, re.DOTALL
    ):
        rows = re.findall(
            r'list__key">\s*(.*?)\s*</dt>\s*<dd class="govuk-summary-list__value">\s*(.*?)\s*</dd>',
            body,
            re.DOTALL,
        )
        found[title] = dict(rows)
    return found


def warnings(html: str) -> list[str]:
    texts = re.findall(r'govuk-warning-text__text">(.*?)</strong>', html, re.DOTALL)
    return [
        " ".join(re.sub(r"<[^>]+>", " ", text).split()).replace("Warning ", "") for text in texts
    ]


def check_page(
    app: Flask, world: World, partner: str, children: list[str] | None = None, **changes: object
) -> tuple[int, str]:
    """The check page for a request to `partner` about these children (by default both)."""
    client = client_for(app, world.worker)
    token = csrf_token(client.get(CASE_PAGE).get_data(as_text=True))
    fields = request_form(world, token, partner=partner, **changes)
    if children is not None:
        fields.setlist("children", children)
    answer = client.post(CASE_PAGE, data=fields)
    return answer.status_code, answer.get_data(as_text=True)


def requests_made(session: Session) -> int:
    return session.scalar(sa.select(sa.func.count()).select_from(DelegationRequest)) or 0


def test_each_child_shows_every_identifier_the_cms_holds_and_what_it_does_not(
    app: Flask, family: World
) -> None:
    page = client_for(app, family.worker).get(CASE_PAGE).get_data(as_text=True)
    assert cards(page) == {
        "Amelia Hart": {
            "Date of birth": "14 March 2015",
            "CMS person id": "P-555001-1",
            "NHS number": "999 002 3417",
            "UPN": AMELIA_UPN,
        },
        "Oliver Hart": {
            "Date of birth": "2 September 2017",
            "CMS person id": NOT_HELD,
            "NHS number": "999 002 3425",
            "UPN": NOT_HELD,
        },
    }


def test_a_child_without_a_person_record_is_warned_of_before_a_partner_is_chosen(
    app: Flask, family: World
) -> None:
    page = client_for(app, family.worker).get(CASE_PAGE).get_data(as_text=True)
    [warning] = warnings(page)
    assert warning.startswith(NO_RECORD) and "an administrator will be told" in warning


def test_a_school_is_warned_that_it_can_match_a_child_without_a_upn_only_on_name(
    app: Flask, family: World
) -> None:
    status, page = check_page(app, family, str(family.school.id))
    assert status == 200 and "Check your request before sending it" in page
    shown = warnings(page)
    assert len(shown) == 2 and shown[0].startswith(NO_RECORD) and NO_UPN in shown[1]
    assert "names and dates of birth, their UPN where the case management system holds one" in page
    # Amelia alone: she has a person record and a UPN, so there is nothing to warn of.
    amelia = next(child for child in family.case.children if child.position == 0)
    status, amelia_only = check_page(app, family, str(family.school.id), [str(amelia.id)])
    assert status == 200 and warnings(amelia_only) == []
    assert "Amelia Hart, born 14 March 2015" in amelia_only


@pytest.mark.parametrize(
    ("partner", "sees"),
    [("Northmoor Health", "their NHS number where"), ("Northmoor Police", "")],
)
def test_health_and_police_are_not_warned_of_a_missing_upn(
    app: Flask, family: World, db_session: Session, partner: str, sees: str
) -> None:
    status, page = check_page(app, family, organisation_id(db_session, partner))
    assert status == 200
    shown = warnings(page)
    assert len(shown) == 1 and shown[0].startswith(NO_RECORD)  # whoever is asked
    assert not any(NAME_ONLY in text for text in shown)
    if sees:
        assert sees in page
    else:
        assert "names and dates of birth, and the reason above" in page


def test_police_configured_to_match_on_the_upn_are_warned_like_a_school(
    app: Flask, family: World, db_session: Session
) -> None:
    settings = app.config["PORTAL_SETTINGS"]
    app.config["PORTAL_SETTINGS"] = settings.model_copy(
        update={"requests": settings.requests.model_copy(update={"police_identifiers": ["upn"]})}
    )
    _status, page = check_page(app, family, organisation_id(db_session, "Northmoor Police"))
    assert any(
        f"holds no UPN for Oliver Hart: Northmoor Police {NAME_ONLY}" in text
        for text in warnings(page)
    )


def test_the_warnings_come_back_with_the_form_when_it_has_errors_and_nothing_is_saved(
    app: Flask, family: World, db_session: Session
) -> None:
    status, page = check_page(app, family, str(family.school.id), purpose="")
    assert status == 400 and "govuk-error-summary" in page
    assert "Enter why you need this information" in page
    assert any(NO_UPN in text for text in warnings(page))
    assert "Amelia Hart" in cards(page)  # what the CMS holds is still shown
    assert requests_made(db_session) == 0


def test_an_organisation_not_offered_is_a_field_error_and_its_kind_warns_of_nothing(
    app: Flask, family: World, db_session: Session
) -> None:
    """The warnings come from the listed organisation's own record, never from the browser:
    an organisation without an agreement is not offered, so it is neither asked nor matched."""
    unlisted = organisation_id(db_session, "No Agreement Police")
    status, page = check_page(app, family, unlisted)
    assert status == 400 and "govuk-error-summary" in page and "Not a valid choice" in page
    assert not any(NAME_ONLY in text for text in warnings(page))
    assert requests_made(db_session) == 0


def test_issuing_records_how_many_children_had_gaps_and_no_identifier_anywhere_it_should_not(
    app: Flask, family: World, db_session: Session
) -> None:
    client = client_for(app, family.worker)
    new_page = client.get(CASE_PAGE).get_data(as_text=True)
    token = csrf_token(new_page)
    check = client.post(CASE_PAGE, data=request_form(family, token)).get_data(as_text=True)
    sent = client.post(
        CASE_PAGE,
        data=MultiDict([*request_form(family, token).items(multi=True), ("step", "issue")]),
    )
    assert sent.status_code == 302
    shown = client.get(sent.headers["Location"]).get_data(as_text=True)
    for page in (new_page, check, shown):
        addresses = re.findall(r'(?:href|action|src|formaction)="([^"]*)"', page)
        assert addresses and not [a for a in addresses if any(v in a for v in IDENTIFYING)]
    assert not any(value in sent.headers["Location"] for value in IDENTIFYING)

    db_session.expire_all()
    decision = db_session.scalars(
        sa.select(AuditEvent).where(AuditEvent.action == AuditAction.REQUEST_ISSUED.value)
    ).one()
    assert decision.details["children_without_cms_person_id"] == 1
    assert decision.details["children_matched_by_name_only"] == 1  # Oliver: no UPN
    trail = db_session.execute(sa.text("SELECT * FROM audit_events")).all()
    assert not any(value in str(row) for row in trail for value in IDENTIFYING)


def test_a_request_to_health_about_children_with_nhs_numbers_records_no_name_only_match(
    app: Flask, family: World, db_session: Session
) -> None:
    health = organisation_id(db_session, "Northmoor Health")
    client = client_for(app, family.worker)
    token = csrf_token(client.get(CASE_PAGE).get_data(as_text=True))
    fields = request_form(family, token, partner=health, form_template="health-information:1")
    sent = client.post(CASE_PAGE, data=MultiDict([*fields.items(multi=True), ("step", "issue")]))
    assert sent.status_code == 302, sent.get_data(as_text=True)[:2000]
    decision = db_session.scalars(
        sa.select(AuditEvent).where(AuditEvent.action == AuditAction.REQUEST_ISSUED.value)
    ).one()
    assert decision.details["children_matched_by_name_only"] == 0
    assert decision.details["children_without_cms_person_id"] == 1
