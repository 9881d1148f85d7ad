"""Checking an export in the browser: the IG officer uploads the ZIP the export page gave (or
the evidence file in it), and gets the checks `portal audit verify-export` makes, against the
keys this portal trusts.

The upload is read from the request stream into memory, within a cap, and dropped once
checked: never written to a file or the database. The check is on the trail with its counts
and result only, never the file's content.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from flask import Request
from sqlalchemy.orm import Session

from portal.attachments import read_upload, refusals
from portal.audit.actions import AuditAction
from portal.audit.evidence_archive import EvidenceUnreadable, read_evidence
from portal.audit.evidence_file import EvidenceReport, check_evidence
from portal.audit.record import Actor, record_event
from portal.audit.signing import PublicKey

MAX_UPLOAD_BYTES = 20 * 1024 * 1024
FIELD = "export"
SELECT_A_FILE = "Select the export ZIP to check"


class _MemorySink:
    """The upload's bytes, held only for the length of the request."""

    def __init__(self) -> None:
        self.data = bytearray()

    def write(self, data: bytes) -> None:
        self.data += data

    def discard(self) -> None:
        self.data = bytearray()


@dataclass(frozen=True)
class ExportVerdict:
    intact: bool
    message: str  # what was found, or exactly what failed and where
    events: int = 0
    checkpoint_seq: int | None = None
    key_id: str | None = None  # the key the checkpoint was checked with
    from_zip: bool = False


class ExportNotReceived(ValueError):
    """No file to check: none chosen, empty, or too large. The message is for the person."""


def check_uploaded_export(
    request: Request, session: Session, actor: Actor, trusted: Sequence[PublicKey]
) -> ExportVerdict:
    """The uploaded export checked and the check recorded. Raises ExportNotReceived (nothing
    sent, empty, too large); a file that is not an export is a verdict like any other."""
    try:
        _fields, upload = read_upload(
            request,
            field_name=FIELD,
            sink_factory=lambda _name: _MemorySink(),
            max_bytes=MAX_UPLOAD_BYTES,
        )
    except refusals.UploadRefused as refused:
        missing = refused.reason == refusals.MISSING
        raise ExportNotReceived(SELECT_A_FILE if missing else refused.message) from None
    data = bytes(upload.sink.data)
    upload.sink.discard()
    if not data:
        raise ExportNotReceived(refusals.empty().message)
    verdict = verify_export_bytes(data, trusted)
    record_event(
        session,
        AuditAction.AUDIT_EXPORT_VERIFIED,
        actor=actor,
        details={
            "intact": verdict.intact,
            "events": verdict.events,
            "checkpoint_seq": verdict.checkpoint_seq,
            "key_id": verdict.key_id,
            "from_zip": verdict.from_zip,
        },
    )
    return verdict


def verify_export_bytes(data: bytes, trusted: Sequence[PublicKey]) -> ExportVerdict:
    """The same checks as `portal audit verify-export --public-key`, with the key that signed
    the file's checkpoint chosen among the portal's trusted keys by its id."""
    try:
        evidence = read_evidence(data, max_bytes=4 * MAX_UPLOAD_BYTES)
    except EvidenceUnreadable as error:
        return ExportVerdict(False, str(error))
    if not trusted:
        return ExportVerdict(False, "This portal has no checkpoint key to check exports with.")
    named = _named_key_id(evidence.lines)
    key = next((key for key in trusted if key.key_id == named), None)
    if named is not None and key is None:
        return ExportVerdict(
            False,
            f"The checkpoint names key {named}, which is not one of this council's checkpoint "
            "keys: the file was not signed by this portal.",
            from_zip=evidence.from_zip,
        )
    report: EvidenceReport = check_evidence(evidence.lines, key or trusted[0])
    return ExportVerdict(
        report.ok,
        report.message,
        report.events,
        report.checkpoint_seq,
        report.key_id,
        evidence.from_zip,
    )


def _named_key_id(lines: list[str]) -> str | None:
    """The key id the file's checkpoint names (what to look the trusted key up by; the
    signature check itself decides whether the file is right)."""
    for line in lines:
        if not line.strip():
            continue
        try:
            header = json.loads(line)
            key_id = header["checkpoint"]["key_id"]
        except (ValueError, KeyError, TypeError):
            return None
        return key_id if isinstance(key_id, str) and len(key_id) <= 64 else None
    return None
