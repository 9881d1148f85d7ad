"""A second, differently shaped CMS for tests: the made-up API that config/cms/mosaic-example.toml
describes, served over real HTTP on a loopback port, with in-memory storage.

It checks the API key, honours the idempotency header (the same key and body return the first
document; the same key with another body is refused with 422) and lists documents page by page.
Tests read what it received from `OtherCms.documents`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify, request
from werkzeug.serving import WSGIRequestHandler, make_server

API_KEY_HEADER = "X-Api-Key"
IDEMPOTENCY_HEADER = "X-Idempotency-Key"
PAGE_SIZE_DEFAULT, PAGE_SIZE_MAX = 50, 100
DOCUMENT_STATE = "filed"

# Fictional cases, in this CMS's own shape. Isla's NHS number is from the range reserved for
# testing, written as people write it; Theo's UPN fails its check letter, as a mistyped one
# would; the third child has no person record yet.
CASES: dict[str, dict[str, Any]] = {
    "MOS-000451": {
        "caseId": "MOS-000451",
        "owningTeam": {"id": "T-17", "name": "Family Support Team West"},
        "subjects": [
            {
                "personId": "MP-88120",
                "fullName": "Isla Moreno",
                "dob": "2016-05-21",
                "identifiers": {"nhsNumber": "999 000 8019", "upn": "H873200116801"},
            },
            {
                "personId": "MP-88121",
                "fullName": "Theo Moreno",
                "dob": "2019-11-30",
                "identifiers": {"nhsNumber": None, "upn": "A873200119802"},
            },
            {"personId": None, "fullName": "Ana Moreno", "dob": "2025-01-15"},
        ],
    },
}


@dataclass
class StoredDocument:
    document_id: str
    case_id: str
    idempotency_key: str
    fingerprint: str
    body: dict[str, Any]
    state: str = DOCUMENT_STATE


@dataclass
class OtherCms:
    """The running service: its address and what it has stored, oldest first."""

    api_key: str
    url: str = ""
    documents: list[StoredDocument] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def find(self, document_id: str) -> StoredDocument | None:
        return next((d for d in self.documents if d.document_id == document_id), None)

    def remove(self, document_id: str) -> None:
        with self.lock:
            self.documents = [d for d in self.documents if d.document_id != document_id]


api = Blueprint("other_cms", __name__, url_prefix="/services/v2")


def _cms() -> OtherCms:
    return current_app.extensions["other_cms"]  # type: ignore[no-any-return]


@api.before_request
def check_api_key() -> Response | None:
    given = request.headers.get(API_KEY_HEADER, "")
    if not secrets.compare_digest(given.encode(), _cms().api_key.encode()):
        return _answer(401, {"message": "missing or unknown API key"})
    return None


@api.get("/case/<reference>")
def get_case(reference: str) -> Response:
    case = CASES.get(reference)
    return _answer(404, {"message": "no such case"}) if case is None else jsonify(case)


@api.post("/case/<reference>/documents")
def create_document(reference: str) -> Response:
    key = request.headers.get(IDEMPOTENCY_HEADER, "").strip()
    if not key:
        return _answer(400, {"errors": [{"field": IDEMPOTENCY_HEADER, "message": "required"}]})
    body = request.get_json(silent=True)
    if reference not in CASES:
        return _answer(404, {"message": "no such case"})
    if not isinstance(body, dict):
        return _answer(400, {"errors": [{"field": "body", "message": "send a JSON object"}]})
    errors = _document_errors(reference, body)
    if errors:
        return _answer(422, {"errors": errors})
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
    fingerprint = hashlib.sha256(f"{reference}\n{canonical}".encode()).hexdigest()
    cms = _cms()
    with cms.lock:
        earlier = next((d for d in cms.documents if d.idempotency_key == key), None)
        if earlier is not None:
            if earlier.fingerprint != fingerprint:
                return _answer(422, {"error": "idempotency_key_reused"})
            return _answer(200, _receipt(earlier))
        stored = StoredDocument(
            f"DOC-{len(cms.documents) + 1:06d}-{secrets.token_hex(2)}",
            reference,
            key,
            fingerprint,
            body,
        )
        cms.documents.append(stored)
    return _answer(201, _receipt(stored))


@api.get("/documents/<document_id>")
def get_document(document_id: str) -> Response:
    stored = _cms().find(document_id)
    if stored is None:
        return _answer(404, {"message": "no such document"})
    return jsonify(document={"id": stored.document_id, "caseId": stored.case_id} | _state(stored))


@api.get("/documents")
def list_documents() -> Response:
    page = _positive(request.args.get("page", "1"))
    limit = _positive(request.args.get("limit", str(PAGE_SIZE_DEFAULT)))
    if page is None or limit is None or limit > PAGE_SIZE_MAX:
        return _answer(400, {"errors": [{"field": "page", "message": "bad page or limit"}]})
    with _cms().lock:
        documents = list(_cms().documents)
    start = (page - 1) * limit
    items = [
        {
            "id": d.document_id,
            "idempotencyKey": d.idempotency_key,
            "caseId": d.case_id,
            "state": d.state,
        }
        for d in documents[start : start + limit]
    ]
    following = str(page + 1) if start + limit < len(documents) else None
    return jsonify(items=items, nextPage=following, total=len(documents))


def _document_errors(reference: str, body: dict[str, Any]) -> list[dict[str, str]]:
    """What is wrong with a document body in this CMS's shape; empty when it is fine."""
    source, content = (_object(body.get(name)) for name in ("source", "content"))
    attachments = body.get("attachments")
    checks = {
        "source.requestRef": isinstance(source.get("requestRef"), str),
        "source.version": isinstance(source.get("version"), int),
        "content.answers": isinstance(content.get("answers"), dict),
        "attachments": isinstance(attachments, list),
    }
    errors = [{"field": name, "message": "required"} for name, ok in checks.items() if not ok]
    for index, attachment in enumerate(attachments if isinstance(attachments, list) else []):
        if not _attachment_ok(attachment):
            errors.append({"field": f"attachments[{index}]", "message": "bad attachment"})
    return errors + _subject_errors(reference, content.get("subjects", []))


def _subject_errors(reference: str, subjects: Any) -> list[dict[str, str]]:
    """Each subject's section must name a person on the case, and carry answers."""
    if not isinstance(subjects, list):
        return [{"field": "content.subjects", "message": "must be a list"}]
    people = {s["personId"] for s in CASES[reference]["subjects"] if s["personId"]}
    errors = []
    for index, subject in enumerate(subjects):
        section = _object(subject)
        if section.get("personId") not in people or not isinstance(section.get("answers"), dict):
            errors.append({"field": f"content.subjects[{index}]", "message": "unknown person"})
    return errors


ATTACHMENT_FIELDS = frozenset({"name", "mimeType", "checksum", "data"})


def _attachment_ok(attachment: Any) -> bool:
    if not isinstance(attachment, dict) or set(attachment) != ATTACHMENT_FIELDS:
        return False
    try:
        data = base64.b64decode(attachment["data"], validate=True)
    except (binascii.Error, TypeError, ValueError):
        return False
    return bool(hashlib.sha256(data).hexdigest() == attachment["checksum"])


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _receipt(stored: StoredDocument) -> dict[str, Any]:
    return {"document": {"id": stored.document_id} | _state(stored)}


def _state(stored: StoredDocument) -> dict[str, str]:
    return {"state": stored.state}


def _positive(text: str) -> int | None:
    return int(text) if text.isascii() and text.isdigit() and int(text) >= 1 else None


def _answer(status: int, payload: dict[str, Any]) -> Response:
    response = jsonify(payload)
    response.status_code = status
    return response


def create_other_cms_app(cms: OtherCms) -> Flask:
    app = Flask(__name__)
    app.extensions["other_cms"] = cms
    app.register_blueprint(api)
    return app


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Tests read `documents`, not a request log."""


@contextmanager
def other_cms(api_key: str) -> Iterator[OtherCms]:
    """The service on a free loopback port, stopped on exit."""
    cms = OtherCms(api_key)
    server = make_server(
        "127.0.0.1", 0, create_other_cms_app(cms), threaded=True, request_handler=_QuietHandler
    )
    cms.url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield cms
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
