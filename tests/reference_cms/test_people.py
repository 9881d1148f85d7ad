"""The reference CMS and each child: person ids that may be missing, the children's NHS numbers
and UPNs, a contribution's section per person filed under their person id, a person record made
later, and a database from before all this upgraded in place."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from stdnum.gb import nhs, upn

from reference_cms.seed import CASE_WITHOUT_PERSON_ID, DEMO_CASES
from reference_cms.store import CaseStore
from tests.reference_cms.test_api import CASE, contribution, make_app, post_contribution

AMELIA, OLIVER = "P-100234-1", "P-100234-2"


def section(person_id: str, **changes: Any) -> dict[str, Any]:
    document = contribution()["documents"][0]
    body = {
        "person_id": person_id,
        "confirmation": "known",
        "matched_on": "upn",
        "answers": {"attendance": "92%"},
        "documents": [document],
    }
    return body | changes


def test_every_seeded_identifier_passes_its_check_and_nhs_numbers_are_from_the_test_range() -> None:
    children = [child for case in DEMO_CASES for child in case.children]
    numbers = [child.nhs_number for child in children if child.nhs_number]
    pupils = [child.upn for child in children if child.upn]
    assert len(numbers) == len(children) - 1 and len(pupils) == len(children) - 2
    assert all(nhs.is_valid(number) and number.startswith("999") for number in numbers)
    assert all(upn.is_valid(pupil) and pupil[1:4] == "801" for pupil in pupils)
    assert len(set(numbers)) == len(numbers) and len(set(pupils)) == len(pupils)


def test_case_lookup_names_each_childs_person_id_and_identifiers(
    client: FlaskClient, auth: dict[str, str]
) -> None:
    hart = client.get(f"/api/v1/cases/{CASE}", headers=auth).json
    assert list(hart["children"][0]) == ["person_id", "name", "date_of_birth", "nhs_number", "upn"]
    assert [c["person_id"] for c in hart["children"]] == [AMELIA, OLIVER]
    assert all(nhs.is_valid(c["nhs_number"]) and upn.is_valid(c["upn"]) for c in hart["children"])

    kowalski = client.get(f"/api/v1/cases/{CASE_WITHOUT_PERSON_ID}", headers=auth).json
    assert kowalski["team"] == "Children in Need Team East"
    assert kowalski["children"][1] == {
        "person_id": None,
        "name": "Zofia Kowalski",
        "date_of_birth": "2024-12-03",
        "nhs_number": None,
        "upn": None,
    }


def test_each_persons_section_is_stored_under_their_person_id(
    client: FlaskClient, auth: dict[str, str]
) -> None:
    body = contribution(
        children=[section(AMELIA), section(OLIVER, confirmation="not_known", matched_on=None)]
    )
    created = post_contribution(client, auth, body)
    assert created.status_code == 201, created.json

    record = client.get(f"/api/v1/contributions/{created.json['record_id']}", headers=auth).json
    document = body["documents"][0]
    assert record["people"] == [
        {
            "person_id": AMELIA,
            "confirmation": "known",
            "matched_on": "upn",
            "answers": {"attendance": "92%"},
            "documents": [{key: document[key] for key in ("filename", "content_type", "sha256")}],
        },
        {
            "person_id": OLIVER,
            "confirmation": "not_known",
            "matched_on": None,
            "answers": {"attendance": "92%"},
            "documents": [{key: document[key] for key in ("filename", "content_type", "sha256")}],
        },
    ]
    stored = client.get(f"/_records/{created.json['record_id']}").json
    assert stored["body"] == body
    assert client.get("/_records/CMS-NONE").status_code == 404

    assert client.delete(f"/_records/{created.json['record_id']}").status_code == 204
    again = post_contribution(client, auth, body)
    people = client.get(f"/api/v1/contributions/{again.json['record_id']}", headers=auth).json
    assert [p["person_id"] for p in people["people"]] == [AMELIA, OLIVER]


@pytest.mark.parametrize(
    ("children", "field", "message"),
    [
        ([section("P-102310-1")], "children[0].person_id", "not a child on the case"),
        ([section("P-NOBODY")], "children[0].person_id", "not a child on the case"),
        ([section(AMELIA), section(AMELIA)], "children[1].person_id", "named twice"),
        ([section("")], "children[0].person_id", "non-empty string"),
        ([section(AMELIA, matched_on=None)], "children[0].matched_on", "only when, known"),
        (
            [section(AMELIA, confirmation="not_known")],
            "children[0].matched_on",
            "only when, known",
        ),
        ([section(AMELIA, confirmation="maybe")], "children[0].confirmation", "one of"),
        ([section(AMELIA, matched_on="postcode")], "children[0].matched_on", "one of"),
        ([section(AMELIA, answers=[])], "children[0].answers", "JSON object"),
        ([section(AMELIA, documents=[{"filename": "x"}])], "children[0].documents[0].sha256", ""),
        ([1], "children[0]", "JSON object"),
        ({"person_id": AMELIA}, "children", "must be a list"),
    ],
)
def test_a_section_the_cms_cannot_file_is_refused_and_nothing_is_stored(
    client: FlaskClient, auth: dict[str, str], children: Any, field: str, message: str
) -> None:
    response = post_contribution(client, auth, contribution(children=children))
    assert response.status_code == 422
    assert any(e["field"] == field and message in e["message"] for e in response.json["errors"])
    assert client.get("/_records").json["records"] == []


def test_a_child_without_a_person_record_cannot_be_named_until_the_cms_makes_one(
    client: FlaskClient, auth: dict[str, str]
) -> None:
    url = f"/api/v1/cases/{CASE_WITHOUT_PERSON_ID}/contributions"
    body = contribution(children=[section("P-102788-2")])
    headers = auth | {"Idempotency-Key": "key-1"}
    assert client.post(url, json=body, headers=headers).status_code == 422

    zofia = {"name": "Zofia Kowalski", "date_of_birth": "2024-12-03"}
    taken = client.post(
        f"/_cases/{CASE_WITHOUT_PERSON_ID}/person-ids", json=zofia | {"person_id": AMELIA}
    )
    assert (taken.status_code, taken.json) == (409, {"error": "person_id_taken"})
    given = client.post(
        f"/_cases/{CASE_WITHOUT_PERSON_ID}/person-ids", json=zofia | {"person_id": "P-102788-2"}
    )
    assert given.status_code == 200
    assert given.json["person_id"] == "P-102788-2"
    again = client.post(
        f"/_cases/{CASE_WITHOUT_PERSON_ID}/person-ids", json=zofia | {"person_id": "P-102788-3"}
    )
    assert (again.status_code, again.json) == (404, {"error": "no_such_child"})
    missing = client.post(f"/_cases/{CASE_WITHOUT_PERSON_ID}/person-ids", json=zofia)
    assert missing.status_code == 422

    case = client.get(f"/api/v1/cases/{CASE_WITHOUT_PERSON_ID}", headers=auth).json
    assert case["children"][1]["person_id"] == "P-102788-2"
    assert client.post(url, json=body, headers=headers).status_code == 201


def test_a_case_is_added_with_its_identifiers_unchecked(
    client: FlaskClient, auth: dict[str, str]
) -> None:
    case = {
        "reference": "NCC-900001",
        "team": "Children in Need Team East",
        "children": [
            {"person_id": "P-900001-1", "name": "Ada Test", "date_of_birth": "2016-01-01"},
            {"name": "Bo Test", "date_of_birth": "2019-02-02", "nhs_number": "1234567890"},
        ],
    }
    assert client.post("/_cases", json=case).status_code == 201
    assert client.post("/_cases", json=case).status_code == 409
    found = client.get("/api/v1/cases/NCC-900001", headers=auth).json
    assert [(c["person_id"], c["nhs_number"]) for c in found["children"]] == [
        ("P-900001-1", None),
        (None, "1234567890"),
    ]
    clash = case | {"reference": "NCC-900002"}
    assert client.post("/_cases", json=clash).json == {"error": "person_id_taken"}
    bad = client.post("/_cases", json={"reference": "NCC-900003", "team": "", "children": [{}]})
    assert {e["field"] for e in bad.json["errors"]} == {
        "team",
        "children[0].name",
        "children[0].date_of_birth",
    }


HARTS_NOW = [
    {"person_id": "P-100234-9", "name": "Amelia Hart", "date_of_birth": "2015-03-14"},
    {"person_id": OLIVER, "name": "Oliver Hart", "date_of_birth": "2017-09-02"},
]


def test_the_children_on_a_case_are_changed_as_the_cms_users_record_them(
    client: FlaskClient, auth: dict[str, str]
) -> None:
    changed = client.put(f"/_cases/{CASE}/children", json={"children": HARTS_NOW})
    assert (changed.status_code, changed.json) == (200, {"reference": CASE, "children": 2})
    found = client.get(f"/api/v1/cases/{CASE}", headers=auth).json
    assert [c["person_id"] for c in found["children"]] == ["P-100234-9", OLIVER]

    ruby = {"person_id": "P-102310-1", "name": "Ruby Chen", "date_of_birth": "2018-08-09"}
    taken = client.put(f"/_cases/{CASE}/children", json={"children": [ruby]})
    assert (taken.status_code, taken.json) == (409, {"error": "person_id_taken"})
    unknown = client.put("/_cases/NCC-999999/children", json={"children": HARTS_NOW})
    assert unknown.status_code == 404
    bad = client.put(f"/_cases/{CASE}/children", json={"children": [{"name": ""}]})
    assert bad.status_code == 422
    left = client.put(f"/_cases/{CASE}/children", json={"children": HARTS_NOW[1:]})
    assert left.status_code == 200
    found = client.get(f"/api/v1/cases/{CASE}", headers=auth).json
    assert [c["name"] for c in found["children"]] == ["Oliver Hart"]


def test_a_retry_of_a_stored_key_gets_its_first_receipt_after_the_case_changed(
    client: FlaskClient, auth: dict[str, str]
) -> None:
    body = contribution(
        children=[section(AMELIA), section(OLIVER, confirmation="not_known", matched_on=None)]
    )
    first = post_contribution(client, auth, body)
    assert first.status_code == 201
    # Amelia is recorded under another person id: the body names a person no longer on the case.
    assert client.put(f"/_cases/{CASE}/children", json={"children": HARTS_NOW}).status_code == 200

    retried = post_contribution(client, auth, body)
    assert (retried.status_code, retried.json) == (200, first.json)
    reused = post_contribution(client, auth, contribution(children=[section(OLIVER)]))
    assert (reused.status_code, reused.json) == (422, {"error": "idempotency_key_reused"})
    fresh = post_contribution(client, auth, body, key="key-2")
    assert fresh.status_code == 422
    assert fresh.json["errors"] == [
        {"field": "children[0].person_id", "message": "is not a child on the case"}
    ]
    assert len(client.get("/_records").json["records"]) == 1


def test_the_administration_endpoints_need_fault_mode(tmp_path: Path) -> None:
    client = make_app(tmp_path, faults=False).test_client()
    assert client.post("/_cases", json={}).status_code == 404
    assert client.put(f"/_cases/{CASE}/children", json={}).status_code == 404
    assert client.post(f"/_cases/{CASE}/person-ids", json={}).status_code == 404
    assert client.get("/_records/CMS-0000000000000000").status_code == 404


OLD_SCHEMA = """
CREATE TABLE cases (reference TEXT PRIMARY KEY, team TEXT NOT NULL);
CREATE TABLE children (
    person_id TEXT PRIMARY KEY,
    case_reference TEXT NOT NULL REFERENCES cases (reference),
    name TEXT NOT NULL,
    date_of_birth TEXT NOT NULL
);
CREATE TABLE contributions (
    record_id TEXT PRIMARY KEY,
    case_reference TEXT NOT NULL REFERENCES cases (reference),
    idempotency_key TEXT NOT NULL UNIQUE,
    body_sha256 TEXT NOT NULL,
    status TEXT NOT NULL,
    received_at TEXT NOT NULL,
    body TEXT NOT NULL
);
INSERT INTO cases VALUES ('NCC-100234', 'Children in Need Team East');
INSERT INTO children VALUES ('P-100234-2', 'NCC-100234', 'Oliver Hart', '2017-09-02');
INSERT INTO children VALUES ('P-100234-1', 'NCC-100234', 'Amelia Hart', '2015-03-14');
INSERT INTO contributions VALUES
    ('CMS-OLD', 'NCC-100234', 'key-old', 'ff', 'received', '2026-01-01T00:00:00+00:00', '{}');
"""


def test_a_database_from_before_is_upgraded_in_place(tmp_path: Path) -> None:
    path = tmp_path / "cms" / "cms.db"
    path.parent.mkdir()
    with sqlite3.connect(path) as old:
        old.executescript(OLD_SCHEMA)

    app = make_app(tmp_path)  # opens the store, upgrades it and seeds the missing demo cases
    store: CaseStore = app.extensions["reference_cms"]["store"]
    hart = store.find_case(CASE)
    assert hart is not None
    assert [(c.person_id, c.name, c.nhs_number) for c in hart.children] == [
        (AMELIA, "Amelia Hart", None),
        (OLIVER, "Oliver Hart", None),
    ]
    assert [r.idempotency_key for r in store.list_contributions()] == ["key-old"]
    kowalski = store.find_case(CASE_WITHOUT_PERSON_ID)
    assert kowalski is not None and kowalski.children[1].person_id is None
    CaseStore(path)  # a second opening finds nothing to upgrade
    with sqlite3.connect(path) as upgraded:
        tables = {row[0] for row in upgraded.execute("SELECT name FROM sqlite_master")}
    assert "children_before_upgrade" not in tables and "contribution_people" in tables
