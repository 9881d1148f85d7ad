"""The public page where anyone checks a receipt: upload the receipt's JSON or the copy's PDF
(and, optionally, the content file) and read, in plain words, what it proves or why it does
not verify. Nothing uploaded is stored, logged or shown back (portal/receipts/check.py)."""

from __future__ import annotations

import io
from typing import IO, Any

from flask import Blueprint, Response, abort, current_app, render_template, request
from flask.typing import ResponseReturnValue
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.formparser import FormDataParser

from portal import db
from portal.audit.runtime import audit_keys
from portal.auth.policy import PUBLIC, access
from portal.contributions.receipts import CONTENT_FILE
from portal.extensions import csrf
from portal.receipts import extract
from portal.receipts.check import NotAReceipt, check, read_upload
from portal.receipts.proof_check import (
    StampCheck,
    check_bundle,
    is_bundle,
    parse_bundle,
    stamp_check,
)

blueprint = Blueprint("receipts", __name__, url_prefix="/receipts")
# Receipts are under a kilobyte, the copies' PDFs tens of kilobytes and at most about 1 MB, a
# content file at most 3.8 MB (portal/receipts/extract.py). The body is parsed in memory
# (_in_memory), never spooled to a temporary file as Werkzeug would past 500 KB.
MAX_UPLOAD_BYTES = extract.MAX_UPLOAD_BYTES
TOO_LARGE = "The files must be smaller than 8 MB: upload the receipt (.json) or the PDF copy"


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
    files = _uploaded_files()
    uploaded = _read(files.get("receipt"))
    if not uploaded:
        return _page({"receipt": "Select the receipt file or the PDF copy"}, 400)
    try:
        bundle = parse_bundle(uploaded) if is_bundle(uploaded) else None
        receipt, carried = (bundle.receipt, None) if bundle else read_upload(uploaded)
    except NotAReceipt as refused:
        return _page({"receipt": str(refused)}, 400)
    given = _read(files.get("content"))
    trusted = audit_keys().trusted
    verdict = check(receipt, trusted, given or carried)
    in_log = None if bundle is None else check_bundle(db.session(), bundle, trusted, _stamps())
    return render_template(
        "receipts/verify.html",
        verdict=verdict,
        in_log=in_log,
        errors={},
        content_from_pdf=given is None and carried is not None,
        content_file=CONTENT_FILE,
    ), 200


def _stamps() -> StampCheck | None:
    return stamp_check(current_app.config["PORTAL_SETTINGS"].audit.tsa_certificate_file)


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


def _in_memory(
    total_content_length: int | None,
    content_type: str | None,
    filename: str | None,
    content_length: int | None = None,
) -> IO[bytes]:
    return io.BytesIO()


def _uploaded_files() -> MultiDict[str, FileStorage]:
    """The uploaded files, held in memory only: nothing uploaded ever reaches the disk."""
    parser = FormDataParser(_in_memory, max_content_length=MAX_UPLOAD_BYTES, max_form_parts=10)
    _, _, files = parser.parse(
        request.stream,
        mimetype=request.mimetype,
        content_length=request.content_length,
        options=request.mimetype_params,
    )
    return files


def _read(upload: FileStorage | None) -> bytes | None:
    if upload is None or not upload.filename:
        return None
    return upload.read() or None


def _page(errors: dict[str, str], status: int) -> ResponseReturnValue:
    return render_template("receipts/verify.html", verdict=None, in_log=None, errors=errors), status
