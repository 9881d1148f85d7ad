"""Finding a case through the reference CMS (a real process over HTTP) shows, for each child,
exactly the identifiers the CMS holds, and an identifier the CMS holds that fails its check as
held but not valid (never its value); a bad reference is a field error that copies nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from loopback.cms import ReferenceCms
from portal.cases.identifiers import ChildIdentifier, canonical, shown
from portal.config import Settings
from portal.connector.adapter import CmsChild
from portal.connector.factory import adapter_for
from portal.crypto import FileKeyring
from portal.models import Case
from portal.requests.child_identity import NOT_VALID
from tests.conftest import test_settings
from tests.factories import csrf_token
from tests.integration.test_case_identifiers_pages import NOT_HELD, cards, warnings
from tests.integration.test_connector_pages import look_up
from tests.support.deliveries import Outbox
from tests.support.world import client_for


@pytest.fixture(scope="module")
def cms(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReferenceCms]:
    running = ReferenceCms(tmp_path_factory.mktemp("cms")).start()
    yield running
    running.stop()


@pytest.fixture
def settings(
    engine: Engine, keyring_path: Path, audit_key_path: Path, cms: ReferenceCms
) -> Settings:
    return test_settings(
        engine.url.render_as_string(False),
        keyring_path,
        audit={"signing_key_file": str(audit_key_path)},
        cms=cms.section(),
    )


@pytest.fixture
def council(db_session: Session, keyring: FileKeyring, tmp_path: Path) -> Outbox:
    """The council team the reference CMS's cases belong to, a social worker and a school."""
    return Outbox(db_session, keyring, tmp_path / "files")


def held_by_the_cms(settings: Settings, reference: str) -> tuple[CmsChild, ...] | None:
    adapter = adapter_for(settings.cms)
    try:
        found = adapter.find_case(reference)
    finally:
        adapter.close()
    return None if found is None else found.children


def as_shown(identifier: ChildIdentifier, value: str | None) -> str:
    return shown(identifier, canonical(identifier, value)) if value else NOT_HELD


def test_the_page_after_the_lookup_shows_what_the_cms_holds_for_each_sibling(
    app: Flask, council: Outbox, settings: Settings
) -> None:
    status, _page, location = look_up(app, council, "NCC-100234")
    assert status == 302 and location == "/requests/new/NCC-100234"
    page = client_for(app, council.worker).get(location).get_data(as_text=True)
    expected = {
        child.name: {
            "CMS person id": child.person_id or NOT_HELD,
            "NHS number": as_shown(ChildIdentifier.NHS_NUMBER, child.nhs_number),
            "UPN": as_shown(ChildIdentifier.UPN, child.upn),
        }
        for child in held_by_the_cms(settings, "NCC-100234") or ()
    }
    shown_on_page = {
        name: {key: value for key, value in rows.items() if key != "Date of birth"}
        for name, rows in cards(page).items()
    }
    assert shown_on_page == expected
    assert set(expected) == {"Amelia Hart", "Oliver Hart"}
    assert expected["Amelia Hart"]["CMS person id"] == "P-100234-1"


def test_a_case_copied_from_the_cms_warns_before_asking_a_school_about_a_child_without_a_upn(
    app: Flask, council: Outbox, settings: Settings
) -> None:
    """Ruby Chen's CMS record has no UPN (the demo's seed leaves it out on purpose)."""
    [ruby] = held_by_the_cms(settings, "NCC-102310") or ()
    assert ruby.upn is None
    assert look_up(app, council, "NCC-102310")[0] == 302
    client = client_for(app, council.worker)
    page = client.get("/requests/new/NCC-102310").get_data(as_text=True)
    assert cards(page)["Ruby Chen"]["UPN"] == NOT_HELD
    child_id = page.split('name="children" type="checkbox" value="')[1].split('"')[0]
    check = client.post(
        "/requests/new/NCC-102310",
        data={
            "csrf_token": csrf_token(page),
            "children": child_id,
            "partner": str(council.school.id),
            "form_template": "school-contribution:1",
            "lawful_basis": "children-act-1989-s47",
            "purpose": "Core group review.",
            "due_on": ["1", "1", "2027"],
            "expires_on": ["1", "2", "2027"],
        },
    ).get_data(as_text=True)
    assert (
        "The case management system holds no UPN for Ruby Chen: Ashby Lane Primary can only "
        "match the child on name and date of birth." in warnings(check)
    )


def test_a_malformed_reference_is_a_field_error_and_nothing_is_copied(
    app: Flask, council: Outbox, db_session: Session
) -> None:
    before = db_session.scalar(sa.select(sa.func.count()).select_from(Case))
    status, page, location = look_up(app, council, "NCC 100234; DROP")
    assert status == 400 and location is None
    assert "govuk-error-summary" in page and "Enter a case reference like NCC-100234" in page
    assert db_session.scalar(sa.select(sa.func.count()).select_from(Case)) == before


def test_a_child_the_cms_holds_no_identifier_for_is_shown_so_and_warned_of(
    app: Flask, council: Outbox, settings: Settings
) -> None:
    """The reference CMS's case of a child with no person id and no identifiers at all."""
    assert held_by_the_cms(settings, "NCC-102788") is not None
    assert look_up(app, council, "NCC-102788")[0] == 302
    page = client_for(app, council.worker).get("/requests/new/NCC-102788").get_data(as_text=True)
    shown = cards(page)
    assert set(shown) == {"Jacob Kowalski", "Zofia Kowalski"}
    rows = shown["Zofia Kowalski"]
    assert [rows[key] for key in ("CMS person id", "NHS number", "UPN")] == [NOT_HELD] * 3
    assert shown["Jacob Kowalski"]["NHS number"] == "999 027 8814"
    assert any(
        warning.startswith("Zofia Kowalski has no person record in the case management system")
        for warning in warnings(page)
    )


def test_an_identifier_the_cms_holds_that_fails_its_check_is_shown_so_and_never_repeated(
    app: Flask, council: Outbox, cms: ReferenceCms
) -> None:
    ben = {
        "person_id": "P-900418-1",
        "name": "Ben Lane",
        "date_of_birth": "2017-07-07",
        "nhs_number": "999 000 8010",  # the check digit is wrong
        "upn": "A873200119802",  # the check letter is wrong
    }
    case = {"reference": "NCC-900418", "team": "Children in Need Team East", "children": [ben]}
    assert requests.post(f"{cms.url}/_cases", json=case, timeout=10).status_code == 201
    assert look_up(app, council, "NCC-900418")[0] == 302
    client = client_for(app, council.worker)
    page = client.get("/requests/new/NCC-900418").get_data(as_text=True)
    rows = cards(page)["Ben Lane"]
    assert (rows["NHS number"], rows["UPN"]) == (NOT_VALID, NOT_VALID)
    nhs_warning = (
        "The case management system holds an NHS number for Ben Lane that is not a valid NHS "
        "number. Correct it in the case management system."
    )
    assert nhs_warning in warnings(page)

    child_id = page.split('name="children" type="checkbox" value="')[1].split('"')[0]
    check = client.post(
        "/requests/new/NCC-900418",
        data={
            "csrf_token": csrf_token(page),
            "children": child_id,
            "partner": str(council.school.id),
            "form_template": "school-contribution:1",
            "lawful_basis": "children-act-1989-s47",
            "purpose": "Core group review.",
            "due_on": ["1", "1", "2027"],
            "expires_on": ["1", "2", "2027"],
        },
    ).get_data(as_text=True)
    assert warnings(check) == [
        nhs_warning,
        "The case management system holds a UPN for Ben Lane that is not a valid UPN. Correct "
        "it in the case management system: until then Ashby Lane Primary can only match the "
        "child on name and date of birth.",
    ]
    for html in (page, check):
        for value in ("9990008010", "999 000 8010", "A873200119802"):
            assert value not in html
