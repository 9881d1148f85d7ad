"""Why an upload was refused: a reason code for the audit trail and logs, and the GOV.UK-style
message the upload page shows next to the file field."""

from __future__ import annotations

from collections.abc import Iterable

from portal.attachments import sniffing

MISSING = "missing"
EMPTY = "empty"
TOO_LARGE = "too_large"
WRONG_TYPE = "wrong_type"
INFECTED = "infected"
NOT_CHECKED = "not_checked"
NOT_SAVED = "not_saved"  # the document store could not take it (full, read-only, missing)

# Each allowed type is named by what a person would call it, in this order.
_TYPE_LABELS = {
    sniffing.PDF: "PDF",
    sniffing.DOCX: "Word document",
    sniffing.DOC: "Word document",
    sniffing.ODT: "Word document",
    sniffing.XLSX: "spreadsheet",
    sniffing.ODS: "spreadsheet",
    sniffing.PNG: "image",
    sniffing.JPEG: "image",
    sniffing.TEXT: "text file",
}
_LABEL_ORDER = ("PDF", "Word document", "spreadsheet", "image", "text file")


class UploadRefused(Exception):
    """The file is not accepted; nothing of it was kept. `message` is for the person."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def missing() -> UploadRefused:
    return UploadRefused(MISSING, "Select a file")


def empty() -> UploadRefused:
    return UploadRefused(EMPTY, "The selected file is empty")


def too_large(max_bytes: int) -> UploadRefused:
    return UploadRefused(
        TOO_LARGE, f"The selected file must be smaller than {size_text(max_bytes)}"
    )


def wrong_type(allowed_types: Iterable[str]) -> UploadRefused:
    labels = {_TYPE_LABELS.get(media_type) for media_type in allowed_types}
    named = [label for label in _LABEL_ORDER if label in labels]
    if not named or None in labels:
        return UploadRefused(WRONG_TYPE, "The selected file must be a type this service accepts")
    listed = named[0] if len(named) == 1 else f"{', '.join(named[:-1])} or {named[-1]}"
    return UploadRefused(WRONG_TYPE, f"The selected file must be a {listed}")


def infected() -> UploadRefused:
    return UploadRefused(INFECTED, "The selected file contains a virus")


def not_checked() -> UploadRefused:
    return UploadRefused(
        NOT_CHECKED, "The selected file could not be checked for viruses. Try again later"
    )


def not_saved() -> UploadRefused:
    return UploadRefused(
        NOT_SAVED,
        "The selected file could not be saved. Try again later; if it keeps happening, tell "
        "the council's portal team",
    )


def size_text(size: int) -> str:
    """25 MB, 500 KB or 100 bytes: the binary units people's computers show file sizes in."""
    if size >= 1024 * 1024 and size % (1024 * 1024) == 0:
        return f"{size // (1024 * 1024)} MB"
    if size >= 1024 and size % 1024 == 0:
        return f"{size // 1024} KB"
    return f"{size} bytes"


def message_for(reason: str, max_bytes: int, allowed_types: Iterable[str]) -> str | None:
    """The message for a refusal reason, for a page shown after a redirect; None if unknown."""
    made = {
        MISSING: missing,
        EMPTY: empty,
        TOO_LARGE: lambda: too_large(max_bytes),
        WRONG_TYPE: lambda: wrong_type(allowed_types),
        INFECTED: infected,
        NOT_CHECKED: not_checked,
        NOT_SAVED: not_saved,
    }.get(reason)
    return made().message if made else None
