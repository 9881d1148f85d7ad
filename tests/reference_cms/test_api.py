"""The reference CMS's contract: tokens, cases, contributions, idempotency and fault modes."""

from __future__ import annotations

import base64
import hashlib
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient

from reference_cms import create_app
from reference_cms.__main__ import make_cms_server

CLIENT_ID = "portal-connector"
CLIENT_SECRET = "reference-cms-test-secret"
CASE = "NCC-100234"


def make_app(tmp_path: Path, *, faults: bool = True) -> Flask:
    return create_app(tmp_path / "cms", CLIENT_ID, CLIENT_SECRET, faults_enabled=faults)


def contribution(**changes: Any) -> dict[str, Any]:
    content = b"%PDF-1.7 fictional report"
    body: dict[str, Any] = {
        "request_reference": "REQ-0001",
        "version": 1,
        "partner_organisation": "Northtown Primary School",
        "submitted_at": "2026-02-03T10:15:00+00:00",
        "form_template": "school-contribution",
        "form_template_version": 2,
        "answers": {"attendance": "92%"},
        "documents": [
            {
                "filename": "report.pdf",
                "content_type": "application/pdf",
                "sha256": hashlib.sha256(content).hexdigest(),
                "content_base64": base64.b64encode(content).decode(),
            }
        ],
    }
    return body | changes


def post_contribution(
    client: FlaskClient, auth: dict[str, str], body: Any, key: str | None = "key-1"
) -> Any:
    headers = auth | ({"Idempotency-Key": key} if key else {})
    return client.post(f"/api/v1/cases/{CASE}/contributions", json=body, headers=headers)


def test_token_by_basic_auth_or_form_fields(client: FlaskClient) -> None:
    by_basic = client.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=(CLIENT_ID, CLIENT_SECRET)
    )
    by_form = client.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
        },
    )
    for response in (by_basic, by_form):
        assert response.status_code == 200
        assert response.json["token_type"] == "Bearer"
        assert response.json["expires_in"] == 300
        assert response.headers["Cache-Control"] == "no-store"
    assert by_basic.json["access_token"] != by_form.json["access_token"]


def test_token_refused(client: FlaskClient) -> None:
    wrong = client.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=(CLIENT_ID, "wrong")
    )
    assert (wrong.status_code, wrong.json) == (401, {"error": "invalid_client"})
    grant = client.post(
        "/oauth/token", data={"grant_type": "password"}, auth=(CLIENT_ID, CLIENT_SECRET)
    )
    assert (grant.status_code, grant.json) == (400, {"error": "unsupported_grant_type"})


@pytest.mark.parametrize("authorization", [None, "Bearer unknown", "Basic abc"])
def test_api_needs_a_valid_bearer_token(client: FlaskClient, authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = client.get(f"/api/v1/cases/{CASE}", headers=headers)
    assert (response.status_code, response.json) == (401, {"error": "invalid_token"})
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_expired_token_refused(
    client: FlaskClient, auth: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    later = time.monotonic() + 301
    monkeypatch.setattr("reference_cms.app.time.monotonic", lambda: later)
    assert client.get(f"/api/v1/cases/{CASE}", headers=auth).status_code == 401


def test_case_lookup(client: FlaskClient, auth: dict[str, str]) -> None:
    response = client.get(f"/api/v1/cases/{CASE}", headers=auth)
    assert response.status_code == 200
    assert response.json["team"] == "Children in Need Team East"
    assert [(c["name"], c["date_of_birth"]) for c in response.json["children"]] == [
        ("Amelia Hart", "2015-03-14"),
        ("Oliver Hart", "2017-09-02"),
    ]
    unknown = client.get("/api/v1/cases/NCC-999999", headers=auth)
    assert (unknown.status_code, unknown.json) == (404, {"error": "not_found"})


def test_create_contribution_and_look_up_its_status(
    client: FlaskClient, auth: dict[str, str]
) -> None:
    created = post_contribution(client, auth, contribution())
    assert created.status_code == 201
    assert created.json["status"] == "received"
    record_id = created.json["record_id"]
    assert record_id.startswith("CMS-")

    status = client.get(f"/api/v1/contributions/{record_id}", headers=auth)
    assert status.status_code == 200
    assert status.json["case_reference"] == CASE
    assert status.json["status"] == "received"
    assert status.json["received_at"]
    assert client.get("/api/v1/contributions/CMS-NONE", headers=auth).status_code == 404


def test_idempotent_replay_stores_one_record(client: FlaskClient, auth: dict[str, str]) -> None:
    first = post_contribution(client, auth, contribution())
    replay = post_contribution(client, auth, contribution())
    assert (first.status_code, replay.status_code) == (201, 200)
    assert replay.json["record_id"] == first.json["record_id"]
    assert len(client.get("/_records").json["records"]) == 1


def test_same_key_with_a_different_body_is_refused(
    client: FlaskClient, auth: dict[str, str]
) -> None:
    post_contribution(client, auth, contribution())
    reused = post_contribution(client, auth, contribution(version=2))
    assert (reused.status_code, reused.json) == (422, {"error": "idempotency_key_reused"})


def test_unknown_case(client: FlaskClient, auth: dict[str, str]) -> None:
    response = client.post(
        "/api/v1/cases/NCC-999999/contributions",
        json=contribution(),
        headers=auth | {"Idempotency-Key": "key-1"},
    )
    assert response.status_code == 404


def test_missing_idempotency_key(client: FlaskClient, auth: dict[str, str]) -> None:
    response = post_contribution(client, auth, contribution(), key=None)
    assert response.status_code == 400
    assert response.json["errors"][0]["field"] == "Idempotency-Key"


def test_malformed_json_or_wrong_content_type(client: FlaskClient, auth: dict[str, str]) -> None:
    headers = auth | {"Idempotency-Key": "key-1"}
    url = f"/api/v1/cases/{CASE}/contributions"
    malformed = client.post(url, data="{", content_type="application/json", headers=headers)
    form = client.post(url, data={"version": "1"}, headers=headers)
    assert malformed.status_code == form.status_code == 400


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({k: v for k, v in contribution().items() if k != "answers"}, "answers", "is required"),
        (contribution(version=0), "version", "1 or more"),
        (contribution(version=True), "version", "whole number"),
        (contribution(submitted_at="yesterday"), "submitted_at", "ISO 8601"),
        (
            contribution(documents=[contribution()["documents"][0] | {"sha256": "0" * 64}]),
            "documents[0].sha256",
            "does not match",
        ),
        (
            contribution(documents=[contribution()["documents"][0] | {"content_base64": "@@"}]),
            "documents[0].content_base64",
            "base64",
        ),
        ([1, 2], "body", "JSON object"),
    ],
)
def test_validation_errors(
    client: FlaskClient, auth: dict[str, str], body: Any, field: str, message: str
) -> None:
    response = post_contribution(client, auth, body)
    assert response.status_code == 422
    assert any(e["field"] == field and message in e["message"] for e in response.json["errors"])
    assert client.get("/_records").json["records"] == []


def test_body_size_is_limited(client: FlaskClient, auth: dict[str, str]) -> None:
    huge = contribution(answers={"text": "x" * (61 * 1024 * 1024)})
    assert post_contribution(client, auth, huge).status_code == 413


def test_fail_next(client: FlaskClient, auth: dict[str, str]) -> None:
    client.post("/_faults", json={"fail_next": 2})
    statuses = [client.get(f"/api/v1/cases/{CASE}", headers=auth).status_code for _ in range(3)]
    assert statuses == [500, 500, 200]


def test_rate_limit_with_retry_after(client: FlaskClient, auth: dict[str, str]) -> None:
    client.post("/_faults", json={"rate_limit_next": 1, "retry_after": 7})
    limited = client.get(f"/api/v1/cases/{CASE}", headers=auth)
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "7"
    assert client.get(f"/api/v1/cases/{CASE}", headers=auth).status_code == 200


def test_delay(client: FlaskClient, auth: dict[str, str]) -> None:
    client.post("/_faults", json={"delay_seconds": 0.3, "delay_next": 1})
    started = time.monotonic()
    assert client.get(f"/api/v1/cases/{CASE}", headers=auth).status_code == 200
    assert time.monotonic() - started >= 0.3
    started = time.monotonic()
    client.get(f"/api/v1/cases/{CASE}", headers=auth)
    assert time.monotonic() - started < 0.3


def test_faults_cleared_and_validated(client: FlaskClient, auth: dict[str, str]) -> None:
    client.post("/_faults", json={"fail_next": 5})
    assert client.delete("/_faults").json["fail_next"] == 0
    assert client.get(f"/api/v1/cases/{CASE}", headers=auth).status_code == 200
    assert client.post("/_faults", json={"fail_next": -1}).status_code == 422


def test_faults_disabled(tmp_path: Path) -> None:
    client = make_app(tmp_path, faults=False).test_client()
    assert client.post("/_faults", json={"fail_next": 1}).status_code == 404
    assert client.delete("/_faults").status_code == 404
    assert client.get("/_records").status_code == 404


def list_page(client: FlaskClient, auth: dict[str, str], query: str = "") -> Any:
    return client.get(f"/api/v1/contributions{query}", headers=auth)


def test_listing_pages_through_records_in_insertion_order(
    client: FlaskClient, auth: dict[str, str]
) -> None:
    assert list_page(client, auth).json == {"records": [], "next": None}
    ids = [post_contribution(client, auth, contribution(), key=f"key-{n}") for n in (3, 1, 2)]
    expected_ids = [response.json["record_id"] for response in ids]

    first = list_page(client, auth, "?limit=2")
    assert first.status_code == 200
    assert [r["idempotency_key"] for r in first.json["records"]] == ["key-3", "key-1"]
    assert isinstance(first.json["next"], str)
    second = list_page(client, auth, f"?limit=2&after={first.json['next']}")
    assert [r["idempotency_key"] for r in second.json["records"]] == ["key-2"]
    assert second.json["next"] is None

    paged = first.json["records"] + second.json["records"]
    assert [r["record_id"] for r in paged] == expected_ids
    status = client.get(f"/api/v1/contributions/{expected_ids[0]}", headers=auth).json
    assert status.pop("people") == []
    assert paged[0] == status | {"idempotency_key": "key-3"}
    assert list(paged[0]) == [
        "record_id",
        "idempotency_key",
        "case_reference",
        "status",
        "received_at",
    ]


def test_listing_defaults_and_a_page_that_ends_exactly(
    client: FlaskClient, auth: dict[str, str]
) -> None:
    for n in range(3):
        post_contribution(client, auth, contribution(), key=f"key-{n}")
    everything = list_page(client, auth)
    assert len(everything.json["records"]) == 3
    assert everything.json["next"] is None
    exact = list_page(client, auth, "?limit=3")
    assert (len(exact.json["records"]), exact.json["next"]) == (3, None)
    one = list_page(client, auth, "?limit=1")
    assert [r["idempotency_key"] for r in one.json["records"]] == ["key-0"]
    last = list_page(client, auth, f"?limit=500&after={one.json['next']}")
    assert [r["idempotency_key"] for r in last.json["records"]] == ["key-1", "key-2"]
    assert last.json["next"] is None


def test_listing_default_page_size_is_100(
    app: Flask, client: FlaskClient, auth: dict[str, str]
) -> None:
    store = app.extensions["reference_cms"]["store"]
    for n in range(101):
        store.receive_contribution(CASE, f"key-{n}", f"{n:064x}", "{}")
    page = list_page(client, auth)
    assert len(page.json["records"]) == 100
    rest = list_page(client, auth, f"?after={page.json['next']}")
    assert [r["idempotency_key"] for r in rest.json["records"]] == ["key-100"]
    assert rest.json["next"] is None


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("?limit=0", "limit"),
        ("?limit=501", "limit"),
        ("?limit=-1", "limit"),
        ("?limit=1.5", "limit"),
        ("?limit=ten", "limit"),
        ("?limit=", "limit"),
        ("?after=abc", "after"),
        ("?after=-1", "after"),
        ("?after=", "after"),
        ("?after=1e3", "after"),
        ("?after=%EF%BC%91", "after"),  # a full-width digit one
        ("?after=99999999999999999999", "after"),
    ],
)
def test_listing_refuses_a_bad_limit_or_cursor(
    client: FlaskClient, auth: dict[str, str], query: str, field: str
) -> None:
    response = list_page(client, auth, query)
    assert response.status_code == 400
    [error] = response.json["errors"]
    assert error["field"] == field
    assert error["message"]


def test_listing_needs_a_token_and_suffers_faults(
    client: FlaskClient, auth: dict[str, str]
) -> None:
    refused = list_page(client, {})
    assert (refused.status_code, refused.json) == (401, {"error": "invalid_token"})
    client.post("/_faults", json={"fail_next": 1})
    assert list_page(client, auth).status_code == 500
    assert list_page(client, auth).status_code == 200


def test_reject_next_refuses_without_storing(client: FlaskClient, auth: dict[str, str]) -> None:
    assert client.post("/_faults", json={"reject_next": 1}).json["reject_next"] == 1
    rejected = post_contribution(client, auth, contribution())
    assert rejected.status_code == 422
    assert rejected.json == {
        "errors": [{"field": "answers", "message": "refused by fault injection"}]
    }
    assert client.get("/_records").json["records"] == []
    assert client.delete("/_faults").json["reject_next"] == 0
    assert post_contribution(client, auth, contribution()).status_code == 201


def test_reject_next_counts_down(client: FlaskClient, auth: dict[str, str]) -> None:
    client.post("/_faults", json={"reject_next": 2})
    statuses = [
        post_contribution(client, auth, contribution(), key=f"key-{n}").status_code
        for n in range(3)
    ]
    assert statuses == [422, 422, 201]
    assert [r["idempotency_key"] for r in client.get("/_records").json["records"]] == ["key-2"]


def test_hold_after_commit_delays_only_calls_that_commit(
    client: FlaskClient, auth: dict[str, str]
) -> None:
    state = client.post("/_faults", json={"hold_after_commit_next": 1, "hold_seconds": 0.3}).json
    assert (state["hold_after_commit_next"], state["hold_seconds"]) == (1, 0.3)

    started = time.monotonic()
    assert post_contribution(client, auth, contribution(version=0)).status_code == 422
    assert time.monotonic() - started < 0.3
    assert client.post("/_faults", json={}).json["hold_after_commit_next"] == 1

    started = time.monotonic()
    assert post_contribution(client, auth, contribution()).status_code == 201
    assert time.monotonic() - started >= 0.3
    assert client.post("/_faults", json={}).json["hold_after_commit_next"] == 0

    started = time.monotonic()
    assert post_contribution(client, auth, contribution(), key="key-2").status_code == 201
    assert time.monotonic() - started < 0.3


@pytest.mark.parametrize(
    "settings",
    [
        {"hold_seconds": 121},
        {"hold_seconds": -1},
        {"hold_seconds": "1"},
        {"hold_seconds": True},
        {"hold_after_commit_next": -1},
        {"hold_after_commit_next": 1.5},
        {"reject_next": -1},
        {"reject_next": "1"},
    ],
)
def test_new_fault_settings_are_validated(client: FlaskClient, settings: dict[str, Any]) -> None:
    response = client.post("/_faults", json=settings | {"fail_next": 3})
    assert response.status_code == 422
    assert [e["field"] for e in response.json["errors"]] == list(settings)
    assert client.post("/_faults", json={}).json["fail_next"] == 0


def test_new_faults_reported_and_cleared(client: FlaskClient) -> None:
    settings = {"hold_after_commit_next": 2, "hold_seconds": 120, "reject_next": 4}
    assert client.post("/_faults", json=settings).json.items() >= settings.items()
    cleared = client.delete("/_faults").json
    assert {name: cleared[name] for name in settings} == {
        "hold_after_commit_next": 0,
        "hold_seconds": 0,
        "reject_next": 0,
    }


def test_delete_record(client: FlaskClient, auth: dict[str, str]) -> None:
    first = post_contribution(client, auth, contribution()).json["record_id"]
    deleted = client.delete(f"/_records/{first}")
    assert (deleted.status_code, deleted.data) == (204, b"")
    assert client.get(f"/api/v1/contributions/{first}", headers=auth).status_code == 404
    assert client.get("/_records").json["records"] == []
    assert list_page(client, auth).json == {"records": [], "next": None}

    again = client.delete(f"/_records/{first}")
    assert (again.status_code, again.json) == (404, {"error": "not_found"})
    redelivered = post_contribution(client, auth, contribution())
    assert redelivered.status_code == 201
    assert redelivered.json["record_id"] != first


def test_delete_record_needs_fault_mode(tmp_path: Path) -> None:
    client = make_app(tmp_path, faults=False).test_client()
    assert client.delete("/_records/CMS-0000000000000000").status_code == 404
    assert client.get("/api/v1/contributions").status_code == 401


@pytest.fixture
def live_url(app: Flask) -> Iterator[str]:
    server = make_cms_server(app, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()
    thread.join()


def live_token(url: str) -> dict[str, str]:
    response = requests.post(
        f"{url}/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(CLIENT_ID, CLIENT_SECRET),
        timeout=5,
    )
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def test_drop_after_commit_stores_the_record_but_sends_no_answer(live_url: str) -> None:
    headers = live_token(live_url) | {"Idempotency-Key": "dropped-1"}
    url = f"{live_url}/api/v1/cases/{CASE}/contributions"
    requests.post(f"{live_url}/_faults", json={"drop_after_commit_next": 1}, timeout=5)

    with pytest.raises(requests.ConnectionError):
        requests.post(url, json=contribution(), headers=headers, timeout=5)

    records = requests.get(f"{live_url}/_records", timeout=5).json()["records"]
    assert [r["idempotency_key"] for r in records] == ["dropped-1"]
    retry = requests.post(url, json=contribution(), headers=headers, timeout=5)
    assert retry.status_code == 200
    assert retry.json()["record_id"] == records[0]["record_id"]


def test_hold_after_commit_lets_the_client_give_up_after_the_commit(live_url: str) -> None:
    headers = live_token(live_url) | {"Idempotency-Key": "held-1"}
    url = f"{live_url}/api/v1/cases/{CASE}/contributions"
    faults = {"hold_after_commit_next": 1, "hold_seconds": 1.5}
    requests.post(f"{live_url}/_faults", json=faults, timeout=5)

    with pytest.raises(requests.ReadTimeout):
        requests.post(url, json=contribution(), headers=headers, timeout=0.3)

    # The answer is still being held, yet the record is already there to reconcile.
    listed = requests.get(f"{live_url}/api/v1/contributions", headers=headers, timeout=5).json()
    assert [r["idempotency_key"] for r in listed["records"]] == ["held-1"]
    retry = requests.post(url, json=contribution(), headers=headers, timeout=5)
    assert retry.status_code == 200
    assert retry.json()["record_id"] == listed["records"][0]["record_id"]


def test_real_process_answers_and_stops_on_sigterm(tmp_path: Path) -> None:
    secret_file = tmp_path / "client-secret"
    secret_file.write_text(CLIENT_SECRET + "\n")
    command = [sys.executable, "-m", "reference_cms", "--port", "0", "--faults"]
    command += ["--data-dir", str(tmp_path / "cms"), "--client-id", CLIENT_ID]
    command += ["--client-secret-file", str(secret_file)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        match = re.fullmatch(r"ready (http://127\.0\.0\.1:\d+)\n", process.stdout.readline())
        assert match, "the server did not say it was ready"
        url = match.group(1)
        case = requests.get(f"{url}/api/v1/cases/NCC-102310", headers=live_token(url), timeout=5)
        assert case.json()["children"][0]["name"] == "Ruby Chen"

        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
        _, stderr = process.communicate(timeout=5)
        assert "GET /api/v1/cases/NCC-102310 200" in stderr
        assert CLIENT_SECRET not in stderr
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


def test_openapi_names_every_path() -> None:
    text = resources.files("reference_cms").joinpath("openapi.yaml").read_text(encoding="utf-8")
    assert text.startswith("openapi: 3.1.")
    assert "\t" not in text
    for path in (
        "/oauth/token:",
        "/api/v1/cases/{reference}:",
        "/api/v1/cases/{reference}/contributions:",
        "/api/v1/contributions:",
        "/api/v1/contributions/{record_id}:",
        "/_faults:",
        "/_records:",
        "/_records/{record_id}:",
        "/_cases:",
        "/_cases/{reference}/person-ids:",
    ):
        assert f"\n  {path}\n" in text
