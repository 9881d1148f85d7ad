"""The portal's copy of a case follows who the CMS lists on it, over real HTTP and real
PostgreSQL: a child the CMS records under another person id, or takes off the case, is no longer
offered for a new request (requests made before keep their children) and is offered again once
listed again; a CMS answer naming one person twice is not believed, at a lookup or at the
delivery worker's refresh; and the refresh waits out a database outage and retries a clash with
a concurrent lookup instead of dead-lettering the delivery."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
import sqlalchemy as sa
from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from loopback.cms import ReferenceCms
from portal import db
from portal.audit import SYSTEM, AuditAction
from portal.cases.directory import Asker, CaseLookupUnavailable, CmsCaseDirectory
from portal.config import Settings
from portal.connector import case_refresh
from portal.connector.factory import adapter_for
from portal.crypto import FileKeyring
from portal.crypto.records import RecordCipher
from portal.lifecycle import OutboxStatus
from portal.models import Case, Child, Contribution, DelegationRequest, OutboxMessage
from portal.settings import CmsSettings
from tests.factories import csrf_token
from tests.integration.test_case_identifiers_pages import cards
from tests.integration.test_connector_children import (
    EXAMPLE_MAPPING,
    counted,
    deliver_due,
    events,
    family,
    gain_person_id,
    look_up,
)
from tests.support.families import Family, Kid, own_reference_cms, settings_with
from tests.support.other_cms import CASES, other_cms
from tests.support.world import client_for

HARTS = "NCC-100234"
AMELIA_NOW = {"person_id": "P-100234-9", "name": "Amelia Hart", "date_of_birth": "2015-03-14"}
OLIVER = {"person_id": "P-100234-2", "name": "Oliver Hart", "date_of_birth": "2017-09-02"}
TWICE = "cms_bad_response: a person id listed twice on the case"


@pytest.fixture
def cms(tmp_path: Path) -> Iterator[ReferenceCms]:
    with own_reference_cms(tmp_path) as running:
        yield running


@pytest.fixture
def settings(
    engine: Engine, keyring_path: Path, audit_key_path: Path, cms: ReferenceCms, tmp_path: Path
) -> Settings:
    return settings_with(engine, keyring_path, audit_key_path, cms, tmp_path)


def change_children(cms: ReferenceCms, reference: str, children: list[dict[str, str]]) -> None:
    """The CMS's own users change who is on the case."""
    changed = requests.put(
        f"{cms.url}/_cases/{reference}/children", json={"children": children}, timeout=10
    )
    assert changed.status_code == 200, changed.text


def requests_made(session: Session) -> int:
    return session.scalar(sa.select(sa.func.count()).select_from(DelegationRequest)) or 0


def request_fields(page: str, household: Family, child: Child) -> dict[str, Any]:
    return {
        "csrf_token": csrf_token(page),
        "children": str(child.id),
        "partner": str(household.school.id),
        "form_template": "school-contribution:1",
        "lawful_basis": "children-act-1989-s47",
        "purpose": "Core group review.",
        "due_on": ["1", "1", "2027"],
        "expires_on": ["1", "2", "2027"],
        "step": "issue",
    }


def test_a_child_the_cms_no_longer_lists_is_not_offered_and_is_offered_again_once_listed(
    app: Flask, db_session: Session, settings: Settings, keyring: FileKeyring, cms: ReferenceCms
) -> None:
    harts = family(db_session, keyring, settings, None)
    assert look_up(app, harts, HARTS) == 302
    amelia, oliver = harts.take_case(HARTS).children
    message = harts.accepted_about_the_children()
    earlier = db_session.get_one(Contribution, message.contribution_id).request

    # Amelia is recorded under another person; Oliver leaves the case.
    change_children(cms, HARTS, [AMELIA_NOW])
    assert look_up(app, harts, HARTS) == 302

    client = client_for(app, harts.worker)
    page = client.get(f"/requests/new/{HARTS}").get_data(as_text=True)
    assert {name: rows["CMS person id"] for name, rows in cards(page).items()} == {
        "Amelia Hart": "P-100234-9"
    }
    assert str(amelia.id) not in page and str(oliver.id) not in page
    db_session.expire_all()
    children = db_session.get_one(Case, harts.case.id).children
    assert [(c.cms_person_id, c.delisted_at is not None) for c in children] == [
        ("P-100234-1", True),
        ("P-100234-2", True),
        ("P-100234-9", False),
    ]
    changed = events(db_session, AuditAction.CASE_COPIED_FROM_CMS)[-1]
    assert changed.details["children_no_longer_listed"] == 2
    # The request made before names the children it named.
    db_session.refresh(earlier)
    assert {child.id for child in earlier.children} == {amelia.id, oliver.id}

    # Its accepted answers are never filed on the records the CMS no longer lists them under.
    adapter = adapter_for(settings.cms)
    assert counted(deliver_due(app, settings, keyring, adapter)) == (0, 0, 1)
    adapter.close()
    db_session.refresh(message)
    assert message.status == OutboxStatus.DEAD_LETTERED
    assert (message.last_error or "").startswith("child_without_cms_person_id")
    assert cms.records() == []

    # A request naming the child under the old person id is refused on the field.
    made = requests_made(db_session)
    answer = client.post(f"/requests/new/{HARTS}", data=request_fields(page, harts, amelia))
    assert answer.status_code == 400
    refused = answer.get_data(as_text=True)
    assert "govuk-error-summary" in refused and 'href="#children"' in refused
    assert requests_made(db_session) == made

    change_children(cms, HARTS, [AMELIA_NOW, OLIVER])
    assert look_up(app, harts, HARTS) == 302
    page = client.get(f"/requests/new/{HARTS}").get_data(as_text=True)
    assert {name: rows["CMS person id"] for name, rows in cards(page).items()} == {
        "Amelia Hart": "P-100234-9",
        "Oliver Hart": "P-100234-2",
    }
    db_session.refresh(oliver)
    assert oliver.delisted_at is None


# The other CMS (tests/support/other_cms.py) keeps no rule that a person is listed once.
NAMED_TWICE = {
    "caseId": "MOS-000777",
    "owningTeam": {"id": "T-17", "name": "Family Support Team West"},
    "subjects": [
        {"personId": "MP-77001", "fullName": "Isla Moreno", "dob": "2016-05-21"},
        {"personId": "MP-77001", "fullName": "Theo Moreno", "dob": "2019-11-30"},
        {"personId": None, "fullName": "Ana Moreno", "dob": "2025-01-15"},
    ],
}


@pytest.fixture
def other_cms_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CmsSettings]:
    monkeypatch.setitem(CASES, NAMED_TWICE["caseId"], NAMED_TWICE)
    key_file = tmp_path / "other-cms-key"
    key_file.write_text("other-cms-key", encoding="utf-8")
    with other_cms("other-cms-key") as other:
        yield CmsSettings(
            adapter="generic",
            base_url=other.url,
            client_secret_file=key_file,
            mapping_file=EXAMPLE_MAPPING,
        )


def test_a_lookup_does_not_believe_a_cms_answer_naming_one_person_twice(
    db_session: Session, keyring: FileKeyring, settings: Settings, other_cms_settings: CmsSettings
) -> None:
    morenos = family(db_session, keyring, settings, None, team="Family Support Team West")
    adapter = adapter_for(other_cms_settings)
    asker = Asker(morenos.council.id, lambda team_id: True, SYSTEM)
    directory = CmsCaseDirectory(db_session, RecordCipher(keyring, db_session), adapter, asker)
    try:
        with pytest.raises(CaseLookupUnavailable) as unavailable:
            directory.find("MOS-000777")
    finally:
        adapter.close()

    assert "answer about this case could not be used" in str(unavailable.value)
    assert db_session.scalar(sa.select(Case).where(Case.cms_reference == "MOS-000777")) is None


def test_the_worker_retries_a_refresh_whose_cms_answer_names_one_person_twice(
    app: Flask,
    db_session: Session,
    keyring: FileKeyring,
    settings: Settings,
    other_cms_settings: CmsSettings,
) -> None:
    # The portal holds the case with Ana, who has no person id: the worker asks the CMS again.
    ana = Kid(None, "Ana Moreno", "2025-01-15")
    morenos = family(
        db_session, keyring, settings, "MOS-000777", (ana,), team="Family Support Team West"
    )
    message = morenos.accepted_about_the_children()
    adapter = adapter_for(other_cms_settings)

    assert counted(deliver_due(app, settings, keyring, adapter)) == (0, 1, 0)
    adapter.close()

    db_session.refresh(message)
    assert (message.status, message.last_error) == (OutboxStatus.PENDING, TWICE)


def kowalskis_waiting_for_zofias_person_id(
    app: Flask, db_session: Session, settings: Settings, keyring: FileKeyring, cms: ReferenceCms
) -> tuple[Family, OutboxMessage]:
    """Zofia has no person id when the case is looked up and her answers accepted; the CMS
    makes her person record before the worker delivers them."""
    kowalskis = family(db_session, keyring, settings, None)
    assert look_up(app, kowalskis, "NCC-102788") == 302
    kowalskis.take_case("NCC-102788")
    message = kowalskis.accepted_about_the_children()
    gain_person_id(cms)
    return kowalskis, message


def test_a_database_outage_during_the_refresh_is_waited_out_and_the_delivery_goes_ahead(
    app: Flask,
    db_session: Session,
    settings: Settings,
    keyring: FileKeyring,
    cms: ReferenceCms,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, message = kowalskis_waiting_for_zofias_person_id(app, db_session, settings, keyring, cms)
    real = case_refresh.refresh_held_case
    tries: list[int] = []

    def cut_off_once(*args: Any) -> Case | None:
        tries.append(1)
        if len(tries) == 1:
            raise OperationalError("SELECT 1", {}, ConnectionError("server closed the connection"))
        return real(*args)

    monkeypatch.setattr(case_refresh, "refresh_held_case", cut_off_once)
    adapter = adapter_for(settings.cms)
    assert counted(deliver_due(app, settings, keyring, adapter)) == (1, 0, 0)
    adapter.close()

    assert len(tries) == 2
    db_session.refresh(message)
    assert message.status == OutboxStatus.DELIVERED and message.attempts == 1


def test_a_refresh_clashing_with_a_concurrent_lookup_is_retried_not_dead_lettered(
    app: Flask, db_session: Session, settings: Settings, keyring: FileKeyring, cms: ReferenceCms
) -> None:
    kowalskis, message = kowalskis_waiting_for_zofias_person_id(
        app, db_session, settings, keyring, cms
    )
    case_id = kowalskis.case.id
    db_session.commit()  # the test's session holds no savepoint that the worker's could undo
    sessions = db.database(app).sessions
    raced: list[Child] = []

    def another_lookup_first(session: Session, *_: Any) -> None:
        """As the refresh writes, another lookup has already copied Zofia's new person id."""
        if raced or not any(isinstance(row, Child) for row in session.dirty):
            return
        copy = Child(case_id=case_id, position=9, cms_person_id="P-102788-2")
        cipher = RecordCipher(keyring, session)
        cipher.seal_text(copy, "name_enc", "Zofia Kowalski")
        cipher.seal_text(copy, "date_of_birth_enc", "2024-12-03")
        session.add(copy)
        raced.append(copy)

    event.listen(sessions, "before_flush", another_lookup_first)
    adapter = adapter_for(settings.cms)
    try:
        assert counted(deliver_due(app, settings, keyring, adapter)) == (0, 1, 0)
    finally:
        event.remove(sessions, "before_flush", another_lookup_first)
    assert raced
    db_session.refresh(message)
    assert message.status == OutboxStatus.PENDING
    assert (message.last_error or "").startswith("case_copied_concurrently")

    # Tried again (now, rather than after the backoff): the refresh finds nothing in its way.
    message.next_attempt_at = datetime.now(UTC)
    db_session.commit()
    assert counted(deliver_due(app, settings, keyring, adapter)) == (1, 0, 0)
    adapter.close()
