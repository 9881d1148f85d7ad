"""The right child from the CMS and back, over real HTTP and real PostgreSQL.

Two siblings' answers delivered by the worker are filed under each child's CMS person id, in
the reference CMS and, through the example mapping, in a differently shaped CMS, and no id of
the portal's own for a child reaches either. A child without a person id dead-letters with a
reason an administrator can act on; once the CMS makes the person record, the administrator's
retry delivers. A case lookup copies the children's NHS numbers and UPNs sealed, keeps none
that fails its check, notes which kinds failed on the child, and says how many failed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from loopback.cms import ReferenceCms
from portal import db
from portal.audit import AuditAction
from portal.config import Settings
from portal.connector.adapter import CmsAdapter
from portal.connector.factory import adapter_for
from portal.connector.worker import DeliveryCounts, DeliveryWorker
from portal.crypto import FileKeyring
from portal.crypto.records import RecordCipher
from portal.lifecycle import OutboxStatus
from portal.models import Case, Child, OutboxMessage
from portal.settings import CmsSettings
from tests.factories import csrf_token
from tests.support.audit_log import events
from tests.support.families import Family, Kid, own_reference_cms, settings_with
from tests.support.other_cms import other_cms
from tests.support.world import client_for

EXAMPLE_MAPPING = Path(__file__).resolve().parents[2] / "config" / "cms" / "mosaic-example.toml"
CMS_TEAM = "Children in Need Team East"
HARTS = (
    Kid("P-100234-1", "Amelia Hart", "2015-03-14"),
    Kid("P-100234-2", "Oliver Hart", "2017-09-02"),
)
MORENOS = (
    Kid("MP-88120", "Isla Moreno", "2016-05-21"),
    Kid("MP-88121", "Theo Moreno", "2019-11-30"),
)
ZOFIA = {"name": "Zofia Kowalski", "date_of_birth": "2024-12-03"}
NO_PERSON_ID = "child_without_cms_person_id: 1 of 2 children have no person id the CMS still lists"


@pytest.fixture
def cms(tmp_path: Path) -> Iterator[ReferenceCms]:
    with own_reference_cms(tmp_path) as running:
        yield running


@pytest.fixture
def settings(
    engine: Engine, keyring_path: Path, audit_key_path: Path, cms: ReferenceCms, tmp_path: Path
) -> Settings:
    return settings_with(engine, keyring_path, audit_key_path, cms, tmp_path)


def family(
    db_session: Session,
    keyring: FileKeyring,
    settings: Settings,
    reference: str | None,
    children: tuple[Kid, ...] = (),
    team: str = CMS_TEAM,
) -> Family:
    return Family(
        db_session,
        keyring,
        settings.attachments,
        reference=reference,
        team=team,
        children=children,
    )


def deliver_due(app: Flask, settings: Settings, keyring: FileKeyring, adapter: CmsAdapter) -> Any:
    worker = DeliveryWorker(db.database(app).sessions, adapter, settings, keyring, name="in-test")
    return worker.deliver_due()


def counted(counts: DeliveryCounts) -> tuple[int, int, int]:
    return counts.delivered, counts.retrying, counts.dead_lettered


def filed_people(cms: ReferenceCms, record_id: str) -> list[dict[str, Any]]:
    """What the CMS's API says it filed on each person."""
    record = requests.get(
        f"{cms.url}/api/v1/contributions/{record_id}",
        headers={"Authorization": f"Bearer {cms.token()}"},
        timeout=10,
    )
    people: list[dict[str, Any]] = record.json()["people"]
    return people


def assert_no_portal_child_id_in(body: dict[str, Any], household: Family) -> None:
    text = json.dumps(body)
    for child_id in household.child_ids():
        assert str(child_id) not in text
        assert child_id.hex not in text


def test_two_siblings_are_filed_under_their_person_ids_in_the_reference_cms(
    app: Flask, db_session: Session, settings: Settings, keyring: FileKeyring, cms: ReferenceCms
) -> None:
    harts = family(db_session, keyring, settings, "NCC-100234", HARTS)
    message = harts.accepted_about_the_children()
    adapter = adapter_for(settings.cms)

    assert counted(deliver_due(app, settings, keyring, adapter)) == (1, 0, 0)
    adapter.close()

    db_session.refresh(message)
    assert message.status == OutboxStatus.DELIVERED and message.cms_record_id
    people = filed_people(cms, message.cms_record_id)
    assert [(p["person_id"], p["confirmation"], p["matched_on"]) for p in people] == [
        ("P-100234-1", "known", "upn"),
        ("P-100234-2", "not_known", None),
    ]
    assert [p["answers"] for p in people] == [
        {"known-to-school": "yes", "wellbeing": "Notes about child 1"},
        {"known-to-school": "no", "wellbeing": "Notes about child 2"},
    ]
    assert [[d["filename"] for d in p["documents"]] for p in people] == [["child-report.txt"], []]
    body = cms.received(message.cms_record_id)
    assert body["answers"] == {"attendance-overall": "91%"}
    assert body["documents"] == []
    assert_no_portal_child_id_in(body, harts)


def test_two_siblings_are_filed_under_their_person_ids_through_the_example_mapping(
    app: Flask, db_session: Session, settings: Settings, keyring: FileKeyring, tmp_path: Path
) -> None:
    morenos = family(
        db_session,
        keyring,
        settings,
        "MOS-000451",
        (
            Kid("MP-88120", "Isla Moreno", "2016-05-21"),
            Kid("MP-88121", "Theo Moreno", "2019-11-30"),
        ),
        team="Family Support Team West",
    )
    message = morenos.accepted_about_the_children()
    key_file = tmp_path / "other-cms-key"
    key_file.write_text("other-cms-key", encoding="utf-8")
    with other_cms("other-cms-key") as other:
        adapter = adapter_for(
            CmsSettings(
                adapter="generic",
                base_url=other.url,
                client_secret_file=key_file,
                mapping_file=EXAMPLE_MAPPING,
            )
        )
        assert counted(deliver_due(app, settings, keyring, adapter)) == (1, 0, 0)
        adapter.close()
        [stored] = other.documents

    db_session.refresh(message)
    assert message.cms_record_id == stored.document_id
    subjects = stored.body["content"]["subjects"]
    assert [(s["personId"], s["identityCheck"]) for s in subjects] == [
        ("MP-88120", {"outcome": "known", "matchedOn": "upn"}),
        ("MP-88121", {"outcome": "not_known", "matchedOn": None}),
    ]
    assert [s["answers"]["wellbeing"] for s in subjects] == [
        "Notes about child 1",
        "Notes about child 2",
    ]
    assert [[a["name"] for a in s["attachments"]] for s in subjects] == [["child-report.txt"], []]
    assert stored.body["content"]["answers"] == {"attendance-overall": "91%"}
    assert_no_portal_child_id_in(stored.body, morenos)


def gain_person_id(cms: ReferenceCms) -> None:
    """The CMS's own users record Zofia as a person: she gains her person id."""
    made = requests.post(
        f"{cms.url}/_cases/NCC-102788/person-ids",
        json=ZOFIA | {"person_id": "P-102788-2"},
        timeout=10,
    )
    assert made.status_code == 200, made.text


def look_up(app: Flask, household: Family, reference: str) -> int:
    client = client_for(app, household.worker)
    token = csrf_token(client.get("/requests/new").get_data(as_text=True))
    answer = client.post("/requests/new", data={"csrf_token": token, "reference": reference})
    return answer.status_code


def test_a_child_without_a_person_id_dead_letters_until_the_cms_makes_one_and_is_retried(
    app: Flask, db_session: Session, settings: Settings, keyring: FileKeyring, cms: ReferenceCms
) -> None:
    kowalskis = family(db_session, keyring, settings, None)
    assert look_up(app, kowalskis, "NCC-102788") == 302  # copied from the CMS, Zofia id-less
    case = kowalskis.take_case("NCC-102788")
    assert [child.cms_person_id for child in case.children] == ["P-102788-1", None]
    [copied] = events(db_session, AuditAction.CASE_COPIED_FROM_CMS)
    assert copied.details["children_without_person_id"] == 1
    message = kowalskis.accepted_about_the_children()
    adapter = adapter_for(settings.cms)

    assert counted(deliver_due(app, settings, keyring, adapter)) == (0, 0, 1)
    db_session.refresh(message)
    assert (message.status, message.last_error) == (OutboxStatus.DEAD_LETTERED, NO_PERSON_ID)
    assert message.attempts == 1  # permanent: dead-lettered at once
    [dead] = events(db_session, AuditAction.DELIVERY_DEAD_LETTERED)
    assert dead.details["code"] == "child_without_cms_person_id"
    assert cms.records() == []
    admin = client_for(app, kowalskis.admin())
    page = admin.get("/admin/deliveries").get_data(as_text=True)
    assert "A child on this request has no person record in the case management system" in page
    assert "Ask the case’s social worker to have the child recorded there, then retry." in page

    gain_person_id(cms)
    token = csrf_token(page)
    retried = admin.post(f"/admin/deliveries/{message.id}/retry", data={"csrf_token": token})
    assert retried.status_code == 302
    assert counted(deliver_due(app, settings, keyring, adapter)) == (1, 0, 0)
    adapter.close()

    db_session.expire_all()
    message = db_session.get_one(OutboxMessage, message.id)
    assert message.status == OutboxStatus.DELIVERED and message.cms_record_id
    zofia = db_session.get_one(Child, case.children[1].id)
    assert zofia.cms_person_id == "P-102788-2"
    [linked] = events(db_session, AuditAction.CHILD_LINKED_TO_CMS_PERSON)
    assert (linked.object_id, linked.actor_role) == (str(zofia.id), "system")
    assert linked.details == {"matched_on": "name_and_date_of_birth"}
    people = filed_people(cms, message.cms_record_id)
    assert [p["person_id"] for p in people] == ["P-102788-1", "P-102788-2"]
    assert_no_portal_child_id_in(cms.received(message.cms_record_id), kowalskis)


def test_a_cms_that_cannot_answer_about_the_case_just_now_is_tried_again_not_dead_lettered(
    app: Flask, db_session: Session, settings: Settings, keyring: FileKeyring, cms: ReferenceCms
) -> None:
    kowalskis = family(db_session, keyring, settings, None)
    assert look_up(app, kowalskis, "NCC-102788") == 302
    kowalskis.take_case("NCC-102788")
    message = kowalskis.accepted_about_the_children()
    adapter = adapter_for(settings.cms)
    cms.faults(fail_next=1)  # the worker's question about the case fails once

    assert counted(deliver_due(app, settings, keyring, adapter)) == (0, 1, 0)
    adapter.close()
    db_session.refresh(message)
    assert message.status == OutboxStatus.PENDING
    assert (message.last_error or "").startswith("cms_http_500")
    assert events(db_session, AuditAction.DELIVERY_DEAD_LETTERED) == []


def add_cms_case(cms: ReferenceCms, reference: str, children: list[dict[str, Any]]) -> None:
    case = {"reference": reference, "team": CMS_TEAM, "children": children}
    assert requests.post(f"{cms.url}/_cases", json=case, timeout=10).status_code == 201


ADA = {
    "person_id": "P-900417-1",
    "name": "Ada Lane",
    "date_of_birth": "2015-05-05",
    "nhs_number": "999 000 8019",
    "upn": "h873200116801",
}
BEN = {
    "person_id": "P-900417-2",
    "name": "Ben Lane",
    "date_of_birth": "2017-07-07",
    "nhs_number": "9990008010",  # the check digit is wrong
    "upn": "A873200119802",  # the check letter is wrong
}


def test_a_lookup_copies_valid_identifiers_sealed_and_drops_and_counts_invalid_ones(
    app: Flask, db_session: Session, settings: Settings, keyring: FileKeyring, cms: ReferenceCms
) -> None:
    add_cms_case(cms, "NCC-900417", [ADA, BEN])
    lanes = family(db_session, keyring, settings, None)
    assert look_up(app, lanes, "NCC-900417") == 302

    ada, ben = lanes.take_case("NCC-900417").children
    cipher = RecordCipher(keyring, db_session)
    assert cipher.open_text(ada, "nhs_number_enc") == "9990008019"
    assert cipher.open_text(ada, "upn_enc") == "H873200116801"
    assert ada.nhs_number_enc is not None and b"9990008019" not in ada.nhs_number_enc
    assert (ben.nhs_number_enc, ben.upn_enc) == (None, None)
    # Which identifiers the CMS holds wrongly is kept, to be shown: the kind, never the value.
    assert (ada.invalid_identifiers, ben.invalid_identifiers) == ([], ["nhs_number", "upn"])
    [copied] = events(db_session, AuditAction.CASE_COPIED_FROM_CMS)
    assert (copied.details["invalid_nhs_numbers"], copied.details["invalid_upns"]) == (1, 1)
    assert "9990008010" not in json.dumps(copied.details)

    # The portal's copy no longer matches the CMS's: the next lookup puts it right, and says so.
    cipher.seal_text(ada, "nhs_number_enc", "9990001014")
    db_session.commit()
    assert look_up(app, lanes, "NCC-900417") == 302
    db_session.refresh(ada)
    assert cipher.open_text(ada, "nhs_number_enc") == "9990008019"
    assert len(events(db_session, AuditAction.CASE_COPIED_FROM_CMS)) == 2
    assert look_up(app, lanes, "NCC-900417") == 302  # nothing changed: nothing recorded
    assert len(events(db_session, AuditAction.CASE_COPIED_FROM_CMS)) == 2

    # The CMS's users correct Ben's NHS number: the portal keeps it, and no longer warns of it.
    corrected = [ADA, BEN | {"nhs_number": "9990008019"}]
    changed = requests.put(
        f"{cms.url}/_cases/NCC-900417/children", json={"children": corrected}, timeout=10
    )
    assert changed.status_code == 200
    assert look_up(app, lanes, "NCC-900417") == 302
    db_session.refresh(ben)
    assert cipher.open_text(ben, "nhs_number_enc") == "9990008019"
    assert ben.invalid_identifiers == ["upn"]


def test_a_child_without_a_person_id_is_the_same_child_at_the_next_lookup_and_is_linked_later(
    app: Flask, db_session: Session, settings: Settings, keyring: FileKeyring, cms: ReferenceCms
) -> None:
    kowalskis = family(db_session, keyring, settings, None)
    assert look_up(app, kowalskis, "NCC-102788") == 302
    assert look_up(app, kowalskis, "NCC-102788") == 302
    case = kowalskis.take_case("NCC-102788")
    assert len(case.children) == 2  # no second Zofia
    zofia = case.children[1]

    gain_person_id(cms)
    assert look_up(app, kowalskis, "NCC-102788") == 302

    db_session.refresh(zofia)
    assert zofia.cms_person_id == "P-102788-2"
    assert len(db_session.get_one(Case, case.id).children) == 2
    [linked] = events(db_session, AuditAction.CHILD_LINKED_TO_CMS_PERSON)
    assert linked.actor_user_id == kowalskis.worker.id
    assert linked.case_reference == "NCC-102788"
