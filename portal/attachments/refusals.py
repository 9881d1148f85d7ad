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
NOT_CHECKED = "not_checked"  # the scanner down, slow or confused: trying again may work
TOO_COMPLEX_TO_SCAN = "too_complex_to_scan"  # past clamd's size or scan limits: it will not
NOT_SAVED = "not_saved"  # the document store could not take it (full, read-only, missing)

# The portal's own inspection (inspection.py, zip_walk.py; docs/attachments.md, "Inspection").
# The code says exactly what was found, for the audit trail; the message says what to do.
LEGACY_OFFICE = "legacy_office"  # an OLE2 compound file: Word or Excel 97-2003 (.doc, .xls)
ENCRYPTED = "encrypted"  # a member encrypted (flag bits 0, 6 or 13, AES extra field or method)
MACROS = "macros"  # vbaProject.bin, vbaData.xml, a macro content type, ODF Basic/ or Scripts/
NESTED_ARCHIVE = "nested_archive"  # a member that is itself a ZIP, gzip, bzip2, xz, 7z... file
EMBEDDED_OBJECT = "embedded_object"  # a member that is an OLE2 file: embedded objects, macros
TOO_MANY_MEMBERS = "too_many_members"  # more members than max_members
MEMBER_TOO_LARGE = "member_too_large"  # a member decompressing past max_member_bytes
UNPACKED_TOO_LARGE = "unpacked_too_large"  # all members past max_total_uncompressed_bytes
COMPRESSION_RATIO = "compression_ratio"  # past max_compression_ratio once over 1 MiB: a bomb
ZIP64 = "zip64"  # zip64 extra fields, end records, locators or 0xFFFFFFFF sizes and offsets
UNKNOWN_COMPRESSION = "unknown_compression"  # neither stored nor deflated
DIRECTORY_MISMATCH = "directory_mismatch"  # central directory or end record disagrees
EXTRA_DATA = "extra_data"  # bytes before, between or after the records, an end record comment
EXTRA_FIELD = "extra_field"  # an extra field not on zip_walk's short list of harmless ones
SIZE_MISMATCH = "size_mismatch"  # real sizes differ from the declared ones
CRC_MISMATCH = "crc_mismatch"  # the CRC-32 of a member differs from the declared one
STORED_WITH_DESCRIPTOR = "stored_with_descriptor"  # a data descriptor on a stored member
DUPLICATE_NAMES = "duplicate_names"  # two members with one name (Unicode and case folded)
UNSAFE_NAMES = "unsafe_names"  # absolute, "..", backslash, NUL or control characters, empty
MALFORMED = "malformed"  # a record cut short or a field that cannot be read

_RESAVE = "Open it, save it again and upload the new copy"
_DAMAGED = (
    f"The selected file is damaged or was saved in a way this service cannot check. {_RESAVE}"
)
INSPECTION_MESSAGES = {
    LEGACY_OFFICE: (
        "The selected file is an older Word or Excel file (.doc or .xls), which this service "
        "does not accept. Save it as a .docx, .xlsx or PDF and upload it again"
    ),
    ENCRYPTED: "The selected file is password-protected. Remove the password and upload it again",
    MACROS: (
        "The selected file contains macros. Save it without macros (as a .docx, .xlsx or PDF) "
        "and upload it again"
    ),
    NESTED_ARCHIVE: (
        "The selected file has another file packed inside it (such as a .zip file, or a chart's "
        "spreadsheet), which this service does not accept. Remove it, or save the document as a "
        "PDF, and upload it again"
    ),
    EMBEDDED_OBJECT: (
        "The selected file has an embedded object inside it (such as another document or a "
        "package), which this service does not accept. Remove it, or save the document as a "
        "PDF, and upload it again"
    ),
    TOO_MANY_MEMBERS: (
        "The selected file has too many parts to be checked. Save it as a PDF, or split it into "
        "smaller files, and upload it again"
    ),
    MEMBER_TOO_LARGE: (
        "The selected file is too large to be checked once it is opened. Save it as a PDF, or "
        "split it into smaller files, and upload it again"
    ),
    UNPACKED_TOO_LARGE: (
        "The selected file is too large to be checked once it is opened. Save it as a PDF, or "
        "split it into smaller files, and upload it again"
    ),
    COMPRESSION_RATIO: (
        "The selected file is compressed far more than any normal document, so it cannot be "
        f"checked. {_RESAVE}"
    ),
    ZIP64: _DAMAGED,
    UNKNOWN_COMPRESSION: _DAMAGED,
    DIRECTORY_MISMATCH: _DAMAGED,
    EXTRA_DATA: _DAMAGED,
    EXTRA_FIELD: _DAMAGED,
    SIZE_MISMATCH: _DAMAGED,
    CRC_MISMATCH: _DAMAGED,
    STORED_WITH_DESCRIPTOR: _DAMAGED,
    DUPLICATE_NAMES: _DAMAGED,
    UNSAFE_NAMES: _DAMAGED,
    MALFORMED: _DAMAGED,
}

# Each allowed type is named by what a person would call it, in this order.
_TYPE_LABELS = {
    sniffing.PDF: "PDF",
    sniffing.DOCX: "Word document",
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


def too_complex_to_scan() -> UploadRefused:
    return UploadRefused(
        TOO_COMPLEX_TO_SCAN,
        "The selected file is too large or complex to be checked for viruses. Save it as a PDF, "
        "or split it into smaller files, and upload it again",
    )


def not_saved() -> UploadRefused:
    return UploadRefused(
        NOT_SAVED,
        "The selected file could not be saved. Try again later; if it keeps happening, tell "
        "the council's portal team",
    )


def inspected(reason: str) -> UploadRefused:
    """A refusal by the portal's own inspection; `reason` is one of INSPECTION_MESSAGES."""
    return UploadRefused(reason, INSPECTION_MESSAGES[reason])


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
        TOO_COMPLEX_TO_SCAN: too_complex_to_scan,
        NOT_SAVED: not_saved,
    }.get(reason)
    if made:
        return made().message
    return INSPECTION_MESSAGES.get(reason)
