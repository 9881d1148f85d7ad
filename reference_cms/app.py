"""The reference CMS's HTTP API: OAuth2 client-credentials tokens, cases and contributions.

With faults enabled, `/_faults` scripts failures (500, 429, 422 refusals, delays, held or dropped
answers), `/_records` lists, shows and removes records and `/_cases` adds cases and person ids
(reference_cms/admin.py), so the portal's connector can be tested against an unreliable CMS.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import socket
import threading
import time
from pathlib import Path
from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify, request
from werkzeug.exceptions import HTTPException

from reference_cms import admin
from reference_cms.contract import contribution_errors, person_sections
from reference_cms.faults import FaultPlan, InjectedFailure
from reference_cms.replies import child_json, error, errors, faults, respond, store
from reference_cms.seed import seed_demo_cases
from reference_cms.store import CaseStore, IdempotencyKeyReused, Receipt

TOKEN_LIFETIME_SECONDS = 300
PAGE_SIZE_DEFAULT, PAGE_SIZE_MAX = 100, 500
ROWID_MAX = 2**63 - 1
MAX_BODY_BYTES = 60 * 1024 * 1024


class TokenIssuer:
    """Issues opaque bearer tokens to the one configured client and remembers them in memory."""

    def __init__(self, client_id: str, client_secret: str) -> None:
        self._client_id = client_id.encode()
        self._client_secret = client_secret.encode()
        self._expiries: dict[str, float] = {}
        self._lock = threading.Lock()

    def authenticate(self, client_id: str, client_secret: str) -> bool:
        # Compare both parts without short-circuiting, so timing says nothing about which failed.
        id_ok = secrets.compare_digest(client_id.encode(), self._client_id)
        secret_ok = secrets.compare_digest(client_secret.encode(), self._client_secret)
        return id_ok & secret_ok

    def issue(self) -> str:
        token = secrets.token_urlsafe(32)
        now = time.monotonic()
        with self._lock:
            self._expiries = {t: e for t, e in self._expiries.items() if e > now}
            self._expiries[token] = now + TOKEN_LIFETIME_SECONDS
        return token

    def is_valid(self, token: str) -> bool:
        with self._lock:
            expiry = self._expiries.get(token)
        return expiry is not None and expiry > time.monotonic()


def create_app(
    data_dir: Path, client_id: str, client_secret: str, *, faults_enabled: bool
) -> Flask:
    if not client_id or not client_secret:
        raise ValueError("the reference CMS needs a client id and a client secret")
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.json.sort_keys = False  # type: ignore[attr-defined]

    data_dir.mkdir(parents=True, exist_ok=True)
    store = CaseStore(data_dir / "cms.db")
    seed_demo_cases(store)
    app.extensions["reference_cms"] = {
        "store": store,
        "tokens": TokenIssuer(client_id, client_secret),
        "faults": FaultPlan() if faults_enabled else None,
    }

    app.register_blueprint(token_blueprint)
    app.register_blueprint(api_blueprint)
    if faults_enabled:
        app.register_blueprint(admin.blueprint)
    app.register_error_handler(HTTPException, _http_error)
    app.after_request(_no_store)
    return app


token_blueprint = Blueprint("token", __name__)
api_blueprint = Blueprint("api", __name__, url_prefix="/api/v1")


def _tokens() -> TokenIssuer:
    return current_app.extensions["reference_cms"]["tokens"]  # type: ignore[no-any-return]


@token_blueprint.post("/oauth/token")
def issue_token() -> Response:
    if request.authorization and request.authorization.type == "basic":
        client_id = request.authorization.username or ""
        client_secret = request.authorization.password or ""
    else:
        client_id = request.form.get("client_id", "")
        client_secret = request.form.get("client_secret", "")
    if not _tokens().authenticate(client_id, client_secret):
        response = error(401, "invalid_client")
        response.headers["WWW-Authenticate"] = 'Basic realm="reference-cms"'
        return response
    if request.form.get("grant_type") != "client_credentials":
        return error(400, "unsupported_grant_type")
    token = {"access_token": _tokens().issue(), "expires_in": TOKEN_LIFETIME_SECONDS}
    return respond(200, token | {"token_type": "Bearer"})


@api_blueprint.before_request
def apply_faults_then_authenticate() -> Response | None:
    plan = faults()
    if plan is not None:
        delay, failure = plan.take_api_fault()
        if delay:
            time.sleep(delay)
        if failure is not None:
            return _failure_response(failure)
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not _tokens().is_valid(token.strip()):
        response = error(401, "invalid_token")
        response.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
        return response
    return None


@api_blueprint.get("/cases/<reference>")
def get_case(reference: str) -> Response:
    case = store().find_case(reference)
    if case is None:
        return error(404, "not_found")
    children = [child_json(child) for child in case.children]
    return jsonify(reference=case.reference, team=case.team, children=children)


@api_blueprint.post("/cases/<reference>/contributions")
def receive_contribution(reference: str) -> Response:
    plan = faults()
    if plan is not None and plan.take_reject():
        return errors(422, "answers", "refused by fault injection")
    key = request.headers.get("Idempotency-Key", "").strip()
    if not key or len(key) > 255:
        return errors(400, "Idempotency-Key", "send a unique key of 1 to 255 characters")
    if not request.is_json:
        return errors(400, "body", "send the body as application/json")
    body = request.get_json(silent=True)
    if body is None:
        return errors(400, "body", "the body is not valid JSON")
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    fingerprint = hashlib.sha256(f"{reference}\n{canonical}".encode()).hexdigest()
    try:
        # A retry of a stored key gets its first answer, whatever has changed on the case since:
        # only a new key's body is checked against the case as it is now.
        receipt = store().replayed(key, fingerprint) or _received(
            reference, key, fingerprint, body, canonical
        )
    except IdempotencyKeyReused:
        return error(422, "idempotency_key_reused")
    if isinstance(receipt, Response):
        return receipt  # a new key's body the CMS cannot file
    if plan is not None:
        _apply_after_commit_faults(plan)
    return respond(
        201 if receipt.created else 200,
        {"record_id": receipt.record.record_id, "status": receipt.record.status},
    )


def _received(
    reference: str, key: str, fingerprint: str, body: Any, canonical: str
) -> Receipt | Response:
    """Store a contribution under a new key, once checked against the case as it is now; the
    refusal when there is no such case or the body is not one the CMS can file."""
    case = store().find_case(reference)
    if case is None:
        return error(404, "not_found")
    if not isinstance(body, dict):
        return errors(422, "body", "must be a JSON object")
    people = {child.person_id for child in case.children if child.person_id is not None}
    refused = contribution_errors(body, people)
    if refused:
        return respond(422, {"errors": refused})
    return store().receive_contribution(
        reference, key, fingerprint, canonical, person_sections(body)
    )


@api_blueprint.get("/contributions/<record_id>")
def get_contribution(record_id: str) -> Response:
    """The record's status, and what it holds for each person: filed under their person id."""
    record = store().find_contribution(record_id)
    if record is None:
        return error(404, "not_found")
    people = [{"person_id": p.person_id} | p.section for p in store().people_of(record_id)]
    return jsonify(
        record_id=record.record_id,
        case_reference=record.case_reference,
        status=record.status,
        received_at=record.received_at,
        people=people,
    )


@api_blueprint.get("/contributions")
def list_contributions() -> Response:
    """A page of records oldest first, for a client reconciling what it delivered."""
    limit = _whole_number(request.args.get("limit", str(PAGE_SIZE_DEFAULT)))
    if limit is None or not 1 <= limit <= PAGE_SIZE_MAX:
        return errors(400, "limit", f"must be a whole number from 1 to {PAGE_SIZE_MAX}")
    after = _whole_number(request.args.get("after", "0"))
    if after is None:
        return errors(400, "after", "must be a cursor from an earlier page's next")
    page = store().page_contributions(after, limit)
    records = [
        {
            "record_id": r.record_id,
            "idempotency_key": r.idempotency_key,
            "case_reference": r.case_reference,
            "status": r.status,
            "received_at": r.received_at,
        }
        for r in page.records
    ]
    next_cursor = None if page.next_after is None else str(page.next_after)
    return respond(200, {"records": records, "next": next_cursor})


def _whole_number(text: str) -> int | None:
    """A decimal query parameter as a rowid-sized int; None when it is not one."""
    if not 0 < len(text) <= 19 or not text.isascii() or not text.isdigit():
        return None
    number = int(text)
    return number if number <= ROWID_MAX else None


def _apply_after_commit_faults(faults: FaultPlan) -> None:
    hold, drop = faults.take_after_commit()
    if hold:
        logging.getLogger("reference_cms").warning("fault: holding the answer after commit")
        time.sleep(hold)
    if drop:
        _drop_connection()


def _drop_connection() -> None:
    """Shut the client's socket after the commit, so no response reaches it.

    Werkzeug's server exposes the socket as `werkzeug.socket`; its later write then fails with a
    broken pipe, which it treats as a dropped connection. The client reads end-of-stream instead
    of a status line: `requests` raises ConnectionError ("Remote end closed connection").
    """
    connection = request.environ.get("werkzeug.socket") or request.environ.get("gunicorn.socket")
    if isinstance(connection, socket.socket):
        logging.getLogger("reference_cms").warning("fault: dropping the connection after commit")
        connection.shutdown(socket.SHUT_RDWR)


def _failure_response(failure: InjectedFailure) -> Response:
    response = error(failure.status, failure.code)
    if failure.retry_after is not None:
        response.headers["Retry-After"] = str(failure.retry_after)
    return response


def _http_error(raised: HTTPException) -> Response:
    names = {404: "not_found", 405: "method_not_allowed", 413: "body_too_large"}
    code = raised.code or 500
    return error(code, names.get(code, "bad_request" if code < 500 else "server_error"))


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response
