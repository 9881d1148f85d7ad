"""Attachments: uploads streamed from the request, size- and type-checked, encrypted as they
arrive, scanned by ClamAV, and decrypted again in chunks for download (docs/attachments.md)."""

from portal.attachments.refusals import UploadRefused
from portal.attachments.scanning import (
    ClamdScanner,
    NoScanner,
    Scanner,
    ScanVerdict,
    scanner_for,
)
from portal.attachments.store import (
    AttachmentUnavailable,
    PendingAttachment,
    begin_attachment,
    delete_attachment_file,
    finish_attachment,
    open_attachment,
    store_upload,
)
from portal.attachments.upload import (
    UploadResult,
    read_upload,
    receive_attachment,
    upload_size_limit,
)

__all__ = [
    "AttachmentUnavailable",
    "ClamdScanner",
    "NoScanner",
    "PendingAttachment",
    "ScanVerdict",
    "Scanner",
    "UploadRefused",
    "UploadResult",
    "begin_attachment",
    "delete_attachment_file",
    "finish_attachment",
    "open_attachment",
    "read_upload",
    "receive_attachment",
    "scanner_for",
    "store_upload",
    "upload_size_limit",
]
