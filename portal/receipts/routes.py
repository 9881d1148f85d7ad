"""The public page where anyone checks a receipt: upload the receipt's JSON or the copy's PDF
(and, optionally, the content file) and read, in plain words, what it proves or why it does
not verify. Nothing uploaded is stored, logged or shown back (portal/receipts/check.py)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, render_template, request
from flask.typing import ResponseReturnValue
from werkzeug.datastructures import FileStorage
from werkzeug.exceptions import RequestEntityTooLarge

from portal.audit.runtime import audit_keys
from portal.auth.policy import PUBLIC, access
from portal.contributions.receipts import CONTENT_FILE
from portal.extensions import csrf
from portal.receipts import extract
from portal.receipts.check import NotAReceipt, check, read_upload

blueprint = Blueprint("receipts", __name__, url_prefix="/receipts")
# Receipts are under a kilobyte and the copies' PDFs tens of kilobytes. Under Werkzeug's
# 500 KB threshold an upload is parsed in memory, never spooled to a temporary file.
MAX_UPLOAD_BYTES = extract.MAX_UPLOAD_BYTES
TOO_LARGE = "The file must be smaller than 400 KB: upload the receipt (.json) or the PDF copy"


@blueprint.url_value_preprocessor
def _limit_upload(endpoint: str | None, values: dict[str, Any] | None) -> None:
    # Before the form is read, so the cap holds for the whole body.
    request.max_content_length = MAX_UPLOAD_BYTES


@blueprint.errorhandler(RequestEntityTooLarge)
def _too_large(error: RequestEntityTooLarge) -> ResponseReturnValue:
    return _page({"receipt": TOO_LARGE}, 413)


@blueprint.route("/verify", methods=["GET", "POST"])
@access(PUBLIC)
# No CSRF token: the check has no session and changes nothing, so a forged post gains nothing,
# and a token would refuse anyone without cookies or who waited past its 30 minutes.
@csrf.exempt
def verify() -> ResponseReturnValue:
    if request.method == "GET":
        return _page({}, 200)
    uploaded = _read(request.files.get("receipt"))
    if not uploaded:
        return _page({"receipt": "Select the receipt file or the PDF copy"}, 400)
    try:
        receipt, carried = read_upload(uploaded)
    except NotAReceipt as refused:
        return _page({"receipt": str(refused)}, 400)
    given = _read(request.files.get("content"))
    verdict = check(receipt, audit_keys().trusted, given or carried)
    return render_template(
        "receipts/verify.html",
        verdict=verdict,
        errors={},
        content_from_pdf=given is None and carried is not None,
        content_file=CONTENT_FILE,
    ), 200


@blueprint.get("/keys")
@access(PUBLIC)
def keys() -> ResponseReturnValue:
    """Every key a receipt may be signed with: the current one and those retired by rotation."""
    signer = audit_keys().signer
    current = signer.public.key_id if signer else None
    return render_template("receipts/keys.html", keys=audit_keys().trusted, current=current)


@blueprint.get("/keys/<key_id>.pem")
@access(PUBLIC)
def key_pem(key_id: str) -> ResponseReturnValue:
    found = next((key for key in audit_keys().trusted if key.key_id == key_id), None)
    if found is None:
        abort(404)
    response = Response(found.pem, mimetype="application/x-pem-file")
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response


def _read(upload: FileStorage | None) -> bytes | None:
    if upload is None or not upload.filename:
        return None
    return upload.read() or None


def _page(errors: dict[str, str], status: int) -> ResponseReturnValue:
    return render_template("receipts/verify.html", verdict=None, errors=errors), status
