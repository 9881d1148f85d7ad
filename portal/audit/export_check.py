"""Checking an export in the browser: the IG officer uploads the ZIP the export page gave (or
the evidence file in it), and gets the checks `portal audit verify-export` makes (one function,
portal/audit/export_verify.py), against the keys this portal trusts and its TSA's root
certificate.

The upload is spooled from the request stream to a temporary file in a private directory made
for this request (in memory while small), checked from there a line at a time, and deleted
with the directory once checked: never kept, never in the database. The check is on the trail
with its counts and result only, never the file's content.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from typing import IO

from flask import Request
from sqlalchemy.orm import Session

from portal.attachments import read_upload, refusals
from portal.audit.actions import AuditAction
from portal.audit.export_verify import ExportVerdict, verify_export
from portal.audit.record import Actor, record_event
from portal.audit.signing import PublicKey

# Far past an export for a case or a month; a larger one is checked on the command line,
# which reads it from disk with no cap.
MAX_UPLOAD_BYTES = 100 * 1024 * 1024
IN_MEMORY_BYTES = 4 * 1024 * 1024
FIELD = "export"
SELECT_A_FILE = "Select the export ZIP to check"


class _SpoolSink:
    """The upload's bytes, spooled for the length of the request."""

    def __init__(self, spool: IO[bytes]) -> None:
        self.spool, self.size = spool, 0

    def write(self, data: bytes) -> None:
        self.spool.write(data)
        self.size += len(data)

    def discard(self) -> None:
        self.spool.seek(0)
        self.spool.truncate()
        self.size = 0


class ExportNotReceived(ValueError):
    """No file to check: none chosen, empty, or too large. The message is for the person."""


def too_large_message(max_bytes: int) -> str:
    return (
        f"The selected file is larger than {refusals.size_text(max_bytes)}, too large to check "
        "on this page: check it with portal audit verify-export"
    )


def check_uploaded_export(
    request: Request,
    session: Session,
    actor: Actor,
    trusted: Sequence[PublicKey],
    tsa_roots: bytes | None,
) -> ExportVerdict:
    """The uploaded export checked and the check recorded. Raises ExportNotReceived (nothing
    sent, empty, too large); a file that is not an export is a verdict like any other."""
    with (
        tempfile.TemporaryDirectory(prefix="export-check-") as private,  # made 0700
        tempfile.SpooledTemporaryFile(max_size=IN_MEMORY_BYTES, dir=private) as spool,
    ):
        try:
            _fields, upload = read_upload(
                request,
                field_name=FIELD,
                sink_factory=lambda _name: _SpoolSink(spool),
                max_bytes=MAX_UPLOAD_BYTES,
            )
        except refusals.UploadRefused as refused:
            if refused.reason == refusals.MISSING:
                raise ExportNotReceived(SELECT_A_FILE) from None
            if refused.reason == refusals.TOO_LARGE:
                raise ExportNotReceived(too_large_message(MAX_UPLOAD_BYTES)) from None
            raise ExportNotReceived(refused.message) from None
        if not upload.sink.size:
            raise ExportNotReceived(refusals.empty().message)
        spool.seek(0)
        verdict = verify_export(spool, trusted, tsa_roots)
    record_event(
        session,
        AuditAction.AUDIT_EXPORT_VERIFIED,
        actor=actor,
        details={
            "intact": verdict.intact,
            "events": verdict.events,
            "waiting": verdict.waiting,
            "tree_size": verdict.tree_size,
            "time_stamped": verdict.stamped_at is not None,
            "key_id": verdict.key_id,
            "from_zip": verdict.from_zip,
            "differing": ",".join(verdict.differing) or None,
        },
    )
    return verdict
