"""The connector's adapters over real HTTP: the reference CMS as its own process (faults on), and
a differently shaped CMS reached through config/cms/mosaic-example.toml."""

from __future__ import annotations

import base64
import hashlib
import re
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from portal.connector import rest
from portal.connector.adapter import CmsFailure, DeliveredChild, Delivery, Document
from portal.connector.factory import adapter_for
from portal.connector.mapping import REFERENCE_MAPPING
from portal.connector.rest import RestAdapter
from portal.settings import CmsSettings
from tests.support.other_cms import IDEMPOTENCY_HEADER, OtherCms, other_cms

CLIENT_ID = "portal-connector"
CLIENT_SECRET = "reference-cms-adapter-test-secret"
OTHER_API_KEY = "other-cms-adapter-test-key"
EXAMPLE_MAPPING = Path(__file__).resolve().parents[2] / "config" / "cms" / "mosaic-example.toml"
REFERENCE_CASE, OTHER_CASE = "NCC-102310", "MOS-000451"
HTTP_TIMEOUT = 10
REPORT = b"%PDF-1.7 fictional school report"


class ReferenceCms:
    """`python -m reference_cms --faults` as a child process, restartable on the same port."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.secret_file = directory / "cms-client-secret"
        self.secret_file.write_text(CLIENT_SECRET + "\n", encoding="utf-8")
        self.url = ""
        self._process: subprocess.Popen[str] | None = None

    def start(self) -> None:
        port = urlsplit(self.url).port if self.url else 0
        command = [sys.executable, "-m", "reference_cms", "--port", str(port), "--faults"]
        command += ["--data-dir", str(self.directory / "data"), "--client-id", CLIENT_ID]
        command += ["--client-secret-file", str(self.secret_file)]
        with (self.directory / "cms.log").open("a", encoding="utf-8") as log:
            self._process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, text=True)
        assert self._process.stdout is not None
        ready = re.fullmatch(r"ready (http://127\.0\.0\.1:\d+)\n", self._process.stdout.readline())
        assert ready, "the reference CMS did not start: " + self.log()
        self.url = ready.group(1)

    def stop(self) -> None:
        if self._process is None:
            return
        self._process.send_signal(signal.SIGTERM)
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        assert self._process.stdout is not None
        self._process.stdout.close()
        self._process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def log(self) -> str:
        return (self.directory / "cms.log").read_text(encoding="utf-8")

    def faults(self, **settings: Any) -> None:
        response = requests.post(f"{self.url}/_faults", json=settings, timeout=HTTP_TIMEOUT)
        assert response.status_code == 200, response.text

    def delete_record(self, record_id: str) -> None:
        response = requests.delete(f"{self.url}/_records/{record_id}", timeout=HTTP_TIMEOUT)
        assert response.status_code == 204

    def stored_keys(self) -> list[str]:
        records = requests.get(f"{self.url}/_records", timeout=HTTP_TIMEOUT).json()["records"]
        return [record["idempotency_key"] for record in records]

    def people(self, record_id: str) -> list[dict[str, Any]]:
        """What the CMS filed on each person, as its API answers a client."""
        token = requests.post(
            f"{self.url}/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(CLIENT_ID, CLIENT_SECRET),
            timeout=HTTP_TIMEOUT,
        ).json()["access_token"]
        record = requests.get(
            f"{self.url}/api/v1/contributions/{record_id}",
            headers={"Authorization": f"Bearer {token}"},
            timeout=HTTP_TIMEOUT,
        )
        people: list[dict[str, Any]] = record.json()["people"]
        return people


@pytest.fixture
def reference_cms(tmp_path: Path) -> Iterator[ReferenceCms]:
    cms = ReferenceCms(tmp_path)
    cms.start()
    try:
        yield cms
    finally:
        cms.stop()


@pytest.fixture
def reference_adapter(reference_cms: ReferenceCms) -> Iterator[RestAdapter]:
    adapter = adapter_for(
        CmsSettings(
            adapter="reference",
            base_url=reference_cms.url,
            client_id=CLIENT_ID,
            client_secret_file=reference_cms.secret_file,
        )
    )
    yield adapter
    adapter.close()


@pytest.fixture
def other() -> Iterator[OtherCms]:
    with other_cms(OTHER_API_KEY) as cms:
        yield cms


@pytest.fixture
def generic_adapter(other: OtherCms, tmp_path: Path) -> Iterator[RestAdapter]:
    key_file = tmp_path / "other-cms-api-key"
    key_file.write_text(OTHER_API_KEY + "\n", encoding="utf-8")
    adapter = adapter_for(
        CmsSettings(
            adapter="generic",
            base_url=other.url,
            client_secret_file=key_file,
            mapping_file=EXAMPLE_MAPPING,
        )
    )
    yield adapter
    adapter.close()


@pytest.fixture
def http_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every HTTP call made through `requests` from now on, as "METHOD /path"."""
    calls: list[str] = []
    send: Callable[..., requests.Response] = requests.Session.request

    def spy(session: requests.Session, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        calls.append(f"{method} {urlsplit(url).path}")
        return send(session, method, url, *args, **kwargs)

    monkeypatch.setattr(requests.Session, "request", spy)
    return calls


def delivery(case: str, *, version: int = 1, answers: dict[str, Any] | None = None) -> Delivery:
    return Delivery(
        idempotency_key=f"contribution-{uuid.uuid4()}-v{version}",
        case_reference=case,
        request_reference="REQ-0042",
        version=version,
        partner_organisation="Northtown Primary School",
        submitted_at="2026-02-03T10:15:00+00:00",
        form_template="school-contribution",
        form_template_version=2,
        answers=answers if answers is not None else {"attendance": "92%"},
        documents=(
            Document("report.pdf", "application/pdf", hashlib.sha256(REPORT).hexdigest(), REPORT),
        ),
    )


NOTE = b"fictional note about one child"


def siblings(case: str, first: str, second: str) -> Delivery:
    """A delivery about two siblings: one known on their UPN with a document, one not known."""
    return replace(
        delivery(case),
        children=(
            DeliveredChild(
                first,
                "known",
                "upn",
                {"attendance": "95%"},
                (Document("note.txt", "text/plain", hashlib.sha256(NOTE).hexdigest(), NOTE),),
            ),
            DeliveredChild(second, "not_known", None, {}, ()),
        ),
    )


def failure_of(call: Callable[[], object]) -> CmsFailure:
    with pytest.raises(CmsFailure) as raised:
        call()
    return raised.value


# The reference CMS, through adapter_for(adapter="reference")


def test_reference_finds_a_case(reference_adapter: RestAdapter) -> None:
    case = reference_adapter.find_case(REFERENCE_CASE)

    assert case is not None
    assert (case.reference, case.team) == (REFERENCE_CASE, "Children in Need Team East")
    assert [(c.person_id, c.name, c.date_of_birth, c.upn) for c in case.children] == [
        ("P-102310-1", "Ruby Chen", "2018-08-09", None)
    ]
    assert case.children[0].nhs_number == "9990231060"
    assert reference_adapter.find_case("NCC-999999") is None
    kowalski = reference_adapter.find_case("NCC-102788")
    assert kowalski is not None
    assert [(c.person_id, c.nhs_number, c.upn) for c in kowalski.children][1] == (None, None, None)


def test_reference_files_each_siblings_section_under_their_person_id(
    reference_cms: ReferenceCms, reference_adapter: RestAdapter
) -> None:
    receipt = reference_adapter.deliver(siblings("NCC-100234", "P-100234-1", "P-100234-2"))

    assert reference_cms.people(receipt.record_id) == [
        {
            "person_id": "P-100234-1",
            "confirmation": "known",
            "matched_on": "upn",
            "answers": {"attendance": "95%"},
            "documents": [
                {
                    "filename": "note.txt",
                    "content_type": "text/plain",
                    "sha256": hashlib.sha256(NOTE).hexdigest(),
                }
            ],
        },
        {
            "person_id": "P-100234-2",
            "confirmation": "not_known",
            "matched_on": None,
            "answers": {},
            "documents": [],
        },
    ]


def test_reference_refuses_a_section_for_someone_not_on_the_case(
    reference_cms: ReferenceCms, reference_adapter: RestAdapter
) -> None:
    failure = failure_of(
        lambda: reference_adapter.deliver(siblings("NCC-100234", "P-100234-1", "P-102310-1"))
    )

    assert (failure.code, failure.permanent) == ("cms_http_422", True)
    assert failure.reason == "children[1].person_id"
    assert reference_cms.stored_keys() == []


def test_reference_delivers_once_per_key(
    reference_cms: ReferenceCms, reference_adapter: RestAdapter
) -> None:
    sent = delivery(REFERENCE_CASE)

    receipt = reference_adapter.deliver(sent)
    replay = reference_adapter.deliver(sent)

    assert receipt.record_id.startswith("CMS-")
    assert receipt.status == "received"
    assert replay == receipt
    assert reference_cms.stored_keys() == [sent.idempotency_key]
    assert reference_adapter.delivery_status(receipt.record_id) == "received"
    reference_cms.delete_record(receipt.record_id)
    assert reference_adapter.delivery_status(receipt.record_id) is None


def assert_lists_every_record_across_pages(
    adapter: RestAdapter,
    case: str,
    status: str,
    listing_call: str,
    monkeypatch: pytest.MonkeyPatch,
    http_calls: list[str],
) -> None:
    monkeypatch.setattr(rest, "PAGE_LIMIT", 2)
    sent = [delivery(case, version=v) for v in range(1, 6)]
    receipts = [adapter.deliver(d) for d in sent]

    records = list(adapter.delivered_records())

    assert [(r.record_id, r.idempotency_key) for r in records] == [
        (receipt.record_id, d.idempotency_key) for receipt, d in zip(receipts, sent, strict=True)
    ]
    assert {(r.case_reference, r.status) for r in records} == {(case, status)}
    assert http_calls.count(listing_call) == 3


def test_reference_lists_every_record_across_pages(
    reference_adapter: RestAdapter, monkeypatch: pytest.MonkeyPatch, http_calls: list[str]
) -> None:
    assert_lists_every_record_across_pages(
        reference_adapter,
        REFERENCE_CASE,
        "received",
        "GET /api/v1/contributions",
        monkeypatch,
        http_calls,
    )


def test_one_token_serves_many_calls_and_a_rejected_one_is_replaced_once(
    reference_cms: ReferenceCms, reference_adapter: RestAdapter, http_calls: list[str]
) -> None:
    reference_adapter.find_case(REFERENCE_CASE)
    reference_adapter.deliver(delivery(REFERENCE_CASE))
    reference_adapter.find_case(REFERENCE_CASE)
    assert http_calls.count("POST /oauth/token") == 1

    # Its tokens live in memory: after a restart the cached one is refused with 401.
    reference_cms.restart()
    http_calls.clear()
    case = reference_adapter.find_case(REFERENCE_CASE)

    assert case is not None
    assert http_calls == [
        f"GET /api/v1/cases/{REFERENCE_CASE}",
        "POST /oauth/token",
        f"GET /api/v1/cases/{REFERENCE_CASE}",
    ]
    reference_adapter.find_case(REFERENCE_CASE)
    assert http_calls.count("POST /oauth/token") == 1


@pytest.mark.parametrize(
    ("faults", "code", "permanent", "retry_after"),
    [
        ({"fail_next": 1}, "cms_http_500", False, None),
        ({"rate_limit_next": 1, "retry_after": 7}, "cms_http_429", False, 7.0),
        ({"reject_next": 1}, "cms_http_422", True, None),
    ],
)
def test_reference_failures_are_classified(
    reference_cms: ReferenceCms,
    reference_adapter: RestAdapter,
    faults: dict[str, int],
    code: str,
    permanent: bool,
    retry_after: float | None,
) -> None:
    reference_adapter.find_case(REFERENCE_CASE)  # the token first: faults spare token calls
    reference_cms.faults(**faults)

    failure = failure_of(lambda: reference_adapter.deliver(delivery(REFERENCE_CASE)))

    assert (failure.code, failure.permanent, failure.retry_after) == (code, permanent, retry_after)
    assert reference_cms.stored_keys() == []


def test_a_refusal_names_the_field_but_keeps_none_of_the_cms_message(
    reference_cms: ReferenceCms, reference_adapter: RestAdapter
) -> None:
    reference_cms.faults(reject_next=1)

    failure = failure_of(lambda: reference_adapter.deliver(delivery(REFERENCE_CASE)))

    # The CMS said {"field": "answers", "message": "refused by fault injection"}; a CMS may put
    # the values it was sent in its messages, so only the field's name is kept.
    assert failure.summary == "cms_http_422: answers"


def test_a_wrong_client_secret_waits_rather_than_failing_deliveries(
    reference_cms: ReferenceCms, tmp_path: Path
) -> None:
    wrong = tmp_path / "wrong-secret"
    wrong.write_text("not-the-secret", encoding="utf-8")
    adapter = adapter_for(
        CmsSettings(
            adapter="reference",
            base_url=reference_cms.url,
            client_id=CLIENT_ID,
            client_secret_file=wrong,
        )
    )

    failure = failure_of(lambda: adapter.deliver(delivery(REFERENCE_CASE)))

    assert (failure.code, failure.permanent) == ("cms_credentials_refused", False)
    assert "not-the-secret" not in failure.summary
    adapter.close()


def test_a_stopped_cms_is_unreachable(
    reference_cms: ReferenceCms, reference_adapter: RestAdapter
) -> None:
    assert reference_adapter.find_case(REFERENCE_CASE) is not None
    reference_cms.stop()

    failure = failure_of(lambda: reference_adapter.deliver(delivery(REFERENCE_CASE)))

    assert (failure.code, failure.permanent) == ("cms_unreachable", False)


def test_a_slow_cms_times_out(reference_cms: ReferenceCms) -> None:
    adapter = RestAdapter(
        REFERENCE_MAPPING,
        base_url=reference_cms.url,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        timeout=0.5,
    )
    adapter.find_case(REFERENCE_CASE)
    reference_cms.faults(delay_next=1, delay_seconds=2)

    failure = failure_of(lambda: adapter.find_case(REFERENCE_CASE))

    assert (failure.code, failure.permanent) == ("cms_timeout", False)
    adapter.close()


def test_delivering_to_an_unknown_case_is_permanent(reference_adapter: RestAdapter) -> None:
    failure = failure_of(lambda: reference_adapter.deliver(delivery("NCC-999999")))

    assert (failure.code, failure.permanent) == ("case_not_found", True)


# A differently shaped CMS, through adapter_for(adapter="generic") and the example mapping


def test_generic_finds_a_case(generic_adapter: RestAdapter) -> None:
    case = generic_adapter.find_case(OTHER_CASE)

    assert case is not None
    assert (case.reference, case.team) == (OTHER_CASE, "Family Support Team West")
    assert [(c.person_id, c.name, c.date_of_birth) for c in case.children] == [
        ("MP-88120", "Isla Moreno", "2016-05-21"),
        ("MP-88121", "Theo Moreno", "2019-11-30"),
        (None, "Ana Moreno", "2025-01-15"),
    ]
    # As the CMS holds them, unchecked: the case directory checks them.
    assert [(c.nhs_number, c.upn) for c in case.children] == [
        ("999 000 8019", "H873200116801"),
        (None, "A873200119802"),
        (None, None),
    ]
    assert generic_adapter.find_case("MOS-999999") is None


def test_generic_delivers_in_the_cms_shape_once_per_key(
    other: OtherCms, generic_adapter: RestAdapter
) -> None:
    sent = delivery(OTHER_CASE)

    receipt = generic_adapter.deliver(sent)
    replay = generic_adapter.deliver(sent)

    assert receipt.record_id.startswith("DOC-")
    assert receipt.status == "filed"
    assert replay == receipt
    assert [d.idempotency_key for d in other.documents] == [sent.idempotency_key]
    assert other.documents[0].body == {
        "source": {
            "requestRef": "REQ-0042",
            "version": 1,
            "organisation": "Northtown Primary School",
            "submittedAt": "2026-02-03T10:15:00+00:00",
        },
        "content": {
            "form": "school-contribution",
            "formVersion": 2,
            "answers": {"attendance": "92%"},
            "subjects": [],
        },
        "attachments": [
            {
                "name": "report.pdf",
                "mimeType": "application/pdf",
                "checksum": hashlib.sha256(REPORT).hexdigest(),
                "data": base64.b64encode(REPORT).decode("ascii"),
            }
        ],
    }


def test_generic_files_each_siblings_section_in_the_cms_shape(
    other: OtherCms, generic_adapter: RestAdapter
) -> None:
    generic_adapter.deliver(siblings(OTHER_CASE, "MP-88121", "MP-88120"))

    [stored] = other.documents
    assert stored.body["content"]["subjects"] == [
        {
            "personId": "MP-88121",
            "identityCheck": {"outcome": "known", "matchedOn": "upn"},
            "answers": {"attendance": "95%"},
            "attachments": [
                {
                    "name": "note.txt",
                    "mimeType": "text/plain",
                    "checksum": hashlib.sha256(NOTE).hexdigest(),
                    "data": base64.b64encode(NOTE).decode("ascii"),
                }
            ],
        },
        {
            "personId": "MP-88120",
            "identityCheck": {"outcome": "not_known", "matchedOn": None},
            "answers": {},
            "attachments": [],
        },
    ]
    assert stored.body["content"]["answers"] == {"attendance": "92%"}


def test_generic_refuses_a_reused_key_with_another_body(
    other: OtherCms, generic_adapter: RestAdapter
) -> None:
    first = delivery(OTHER_CASE)
    generic_adapter.deliver(first)
    changed = replace(first, answers={"attendance": "40%"})

    failure = failure_of(lambda: generic_adapter.deliver(changed))

    assert (failure.code, failure.permanent) == ("cms_http_422", True)
    assert failure.reason == "idempotency_key_reused"
    assert len(other.documents) == 1


def test_generic_sends_the_configured_headers(
    generic_adapter: RestAdapter, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[dict[str, Any]] = []
    send = requests.Session.request

    def spy(session: requests.Session, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        seen.append(dict(session.headers) | dict(kwargs.get("headers") or {}))
        return send(session, method, url, *args, **kwargs)

    monkeypatch.setattr(requests.Session, "request", spy)
    sent = delivery(OTHER_CASE)
    generic_adapter.deliver(sent)

    assert seen[0]["X-Api-Key"] == OTHER_API_KEY
    assert seen[0][IDEMPOTENCY_HEADER] == sent.idempotency_key
    assert "Authorization" not in seen[0]


def test_generic_reports_status(other: OtherCms, generic_adapter: RestAdapter) -> None:
    receipt = generic_adapter.deliver(delivery(OTHER_CASE))

    assert generic_adapter.delivery_status(receipt.record_id) == "filed"
    other.remove(receipt.record_id)
    assert generic_adapter.delivery_status(receipt.record_id) is None


def test_generic_lists_every_record_across_pages(
    generic_adapter: RestAdapter, monkeypatch: pytest.MonkeyPatch, http_calls: list[str]
) -> None:
    assert_lists_every_record_across_pages(
        generic_adapter,
        OTHER_CASE,
        "filed",
        "GET /services/v2/documents",
        monkeypatch,
        http_calls,
    )


def test_a_wrong_api_key_waits_rather_than_failing_deliveries(
    other: OtherCms, tmp_path: Path
) -> None:
    wrong = tmp_path / "wrong-key"
    wrong.write_text("not-the-key", encoding="utf-8")
    adapter = adapter_for(
        CmsSettings(
            adapter="generic",
            base_url=other.url,
            client_secret_file=wrong,
            mapping_file=EXAMPLE_MAPPING,
        )
    )
    failure = failure_of(lambda: adapter.deliver(delivery(OTHER_CASE)))
    assert (failure.code, failure.permanent) == ("cms_credentials_refused", False)
    adapter.close()
