"""Checking a receipt someone uploads: the receipt's JSON, or the copy's PDF that carries it
(and the canonical content its digest covers) as embedded files.

The upload is read in memory and never stored, logged or shown: the verdict names only the
receipt's own fields. A PDF is parsed only in a bounded child process (portal/receipts/
pdf_reader.py). A receipt verifies when its signature checks against one of the council's
published keys with its key id (all at /receipts/keys; a key retired by rotation stays
published).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from portal.audit.signing import PublicKey
from portal.contributions.receipts import (
    FORMAT_2,
    FORMATS,
    Sender,
    signable_name,
    signed_message,
)
from portal.receipts import extract
from portal.receipts.pdf_reader import read_pdf

_HEX = {"sha256": 64, "signature": 128, "key_id": 16}
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_REFERENCE = re.compile(r"[A-Z0-9][A-Z0-9-]{2,40}")


class NotAReceipt(Exception):
    """The upload cannot be read as a receipt; the message says why, in plain words."""


@dataclass(frozen=True)
class Receipt:
    request: str
    version: int
    submitted_at: datetime
    sha256: str
    key_id: str
    signature: str
    sender: Sender | None  # the organisation a format 2 receipt names

    def message(self) -> bytes:
        digest = bytes.fromhex(self.sha256)
        return signed_message(self.request, self.version, self.submitted_at, digest, self.sender)


@dataclass(frozen=True)
class Verdict:
    receipt: Receipt
    signed: bool
    problem: str | None  # why it does not verify, in plain words
    content_matches: bool | None  # None: no copy of the content was given


def read_upload(data: bytes) -> tuple[Receipt, bytes | None]:
    """The receipt in an uploaded file, and the content that came with it (from a PDF)."""
    if data.startswith(b"%PDF-"):
        receipt_bytes, content = _from_pdf(data)
        return parse_receipt(receipt_bytes), content
    return parse_receipt(data), None


_PDF_REFUSED = {
    extract.TOO_MANY: "This PDF carries more files than the portal's copy does. Upload the PDF "
    "the portal gave you.",
    extract.TOO_LARGE: "A file this PDF carries is larger than the portal's copy's. Upload the "
    "PDF the portal gave you.",
    extract.FILTER: "This PDF's files are not stored as the portal stores them. Upload the PDF "
    "the portal gave you.",
    extract.BUSY: "Too many PDFs are being checked at the moment. Try again in a minute, or "
    "upload the receipt file (receipt.json) instead.",
}
_NO_RECEIPT = (
    "This PDF does not carry a receipt. Upload the copy of what was sent that the portal gave "
    "you, or the receipt file itself."
)
_UNREADABLE = "This PDF could not be read. Upload the PDF the portal gave you."


def _from_pdf(data: bytes) -> tuple[bytes, bytes | None]:
    extracted = read_pdf(data)  # in a child process, bounded: a PDF may be a decompression bomb
    if extracted.error == extract.NO_RECEIPT:
        raise NotAReceipt(_NO_RECEIPT)
    if extracted.error is not None or extracted.receipt is None:
        raise NotAReceipt(_PDF_REFUSED.get(extracted.error or "", _UNREADABLE))
    return extracted.receipt, extracted.content


def parse_receipt(data: bytes) -> Receipt:
    try:
        document = json.loads(data.decode("utf-8-sig"))  # Notepad may add a BOM
    except (ValueError, RecursionError):  # not UTF-8, not JSON, absurdly long or deep
        raise NotAReceipt(
            "This file is not a receipt: upload the receipt file (.json) or the PDF copy."
        ) from None
    if not isinstance(document, dict) or "signature" not in document:
        raise NotAReceipt("This file is not a receipt: it has no signature.")
    if document.get("format") not in FORMATS:
        known = " and ".join(FORMATS)
        raise NotAReceipt(f"This receipt's format is not one the portal knows (it knows {known}).")
    return _fields(document)


def _fields(document: dict[str, Any]) -> Receipt:
    problems = [name for name, length in _HEX.items() if not _is_hex(document.get(name), length)]
    request, version = document.get("request"), document.get("version")
    if not isinstance(request, str) or not _REFERENCE.fullmatch(request):
        problems.append("request")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        problems.append("version")
    submitted_at = _moment(document.get("submitted_at"))
    if submitted_at is None:
        problems.append("submitted_at")
    sender = _sender(document, problems)
    if problems:
        raise NotAReceipt(
            "This receipt is damaged: these parts are missing or not as the portal writes "
            f"them: {', '.join(sorted(problems))}."
        )
    assert isinstance(request, str) and isinstance(version, int) and submitted_at  # noqa: S101
    return Receipt(
        request=request,
        version=version,
        submitted_at=submitted_at,
        sha256=document["sha256"],
        key_id=document["key_id"],
        signature=document["signature"],
        sender=sender,
    )


def _sender(document: dict[str, Any], problems: list[str]) -> Sender | None:
    if document["format"] != FORMAT_2:
        return None
    organisation_id, name = document.get("organisation_id"), document.get("organisation")
    if not isinstance(organisation_id, str) or not _UUID.fullmatch(organisation_id):
        problems.append("organisation_id")
    if not isinstance(name, str) or len(name) > 200 or not signable_name(name):
        problems.append("organisation")
    if not isinstance(organisation_id, str) or not isinstance(name, str):
        return None
    return Sender(organisation_id, name)


def _is_hex(value: object, length: int) -> bool:
    return isinstance(value, str) and re.fullmatch(f"[0-9a-f]{{{length}}}", value) is not None


def _moment(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None or moment.isoformat(timespec="microseconds") != value:
        return None  # not as signed: the message holds the time exactly as the portal wrote it
    return moment


def check(receipt: Receipt, keys: tuple[PublicKey, ...], content: bytes | None) -> Verdict:
    """Whether the receipt is signed by a published key, and the content (if given) matches."""
    matches = None if content is None else hashlib.sha256(content).hexdigest() == receipt.sha256
    candidates = [key for key in keys if key.key_id == receipt.key_id]
    if not candidates:
        problem = (
            f"It names the key {receipt.key_id}, which is not one of the council's published "
            "keys. It was not signed by this portal, or by a key the council no longer "
            "publishes."
        )
        return Verdict(receipt, False, problem, matches)
    signature = bytes.fromhex(receipt.signature)
    if any(key.verifies(receipt.message(), signature) for key in candidates):
        return Verdict(receipt, True, None, matches)
    problem = (
        "Its signature does not match its contents: something in it (the reference, version, "
        "time or digest) was changed after the portal signed it, or the signature was."
    )
    return Verdict(receipt, False, problem, matches)
