"""The public page where anyone checks a receipt: upload the receipt's JSON or the copy's PDF
(and, optionally, the content file) and read, in plain words, what it proves or why it does
not verify. Nothing uploaded is stored, logged or shown back (portal/receipts/check.py)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template, request
from flask.typing import ResponseReturnValue
from werkzeug.datastructures import FileStorage
from werkzeug.exceptions import RequestEntityTooLarge

from portal.audit.runtime import audit_keys
from portal.auth.policy import PUBLIC, access
from portal.receipts.check import NotAReceipt, check, read_upload

blueprint = Blueprint("receipts", __name__, url_prefix="/receipts")
# Receipts are under a kilobyte and the copies' PDFs tens of kilobytes. Under Werkzeug's
# 500 KB threshold an upload is parsed in memory, never spooled to a temporary file.
MAX_UPLOAD_BYTES = 400 * 1024
TOO_LARGE = "The file must be smaller than 400 KB: upload the receipt (.json) or the PDF copy"


@blueprint.url_value_preprocessor
def _limit_upload(endpoint: str | None, values: dict[str, Any] | None) -> None:
    # Before the CSRF check reads the form, so the cap holds for the whole body.
    request.max_content_length = MAX_UPLOAD_BYTES


@blueprint.errorhandler(RequestEntityTooLarge)
def _too_large(error: RequestEntityTooLarge) -> ResponseReturnValue:
    return _page({"receipt": TOO_LARGE}, 413)


@blueprint.route("/verify", methods=["GET", "POST"])
@access(PUBLIC)
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
    content = _read(request.files.get("content")) or carried
    verdict = check(receipt, audit_keys().trusted, content)
    return render_template("receipts/verify.html", verdict=verdict, errors={}), 200


def _read(upload: FileStorage | None) -> bytes | None:
    if upload is None or not upload.filename:
        return None
    return upload.read() or None


def _page(errors: dict[str, str], status: int) -> ResponseReturnValue:
    return render_template("receipts/verify.html", verdict=None, errors=errors), status
