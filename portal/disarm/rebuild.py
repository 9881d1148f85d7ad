"""Which rebuild each kind of document gets (run inside the converter process only)."""

from __future__ import annotations

from portal.attachments import sniffing
from portal.disarm.images import rebuild_image
from portal.disarm.outcome import SafeCopy
from portal.disarm.pdf import rebuild_pdf
from portal.disarm.text import rebuild_text
from portal.settings import DisarmSettings

IMAGES = frozenset({sniffing.PNG, sniffing.JPEG})
# Every kind LibreOffice converts to PDF before its pages are rendered.
OFFICE_EXTENSIONS = {
    sniffing.DOC: ".doc",
    sniffing.DOCX: ".docx",
    sniffing.DOCM: ".docm",
    sniffing.XLSX: ".xlsx",
    sniffing.XLSM: ".xlsm",
    sniffing.PPTX: ".pptx",
    sniffing.PPTM: ".pptm",
    sniffing.ODT: ".odt",
    sniffing.ODS: ".ods",
    sniffing.ODP: ".odp",
}
SUPPORTED = IMAGES | {sniffing.PDF, sniffing.TEXT}


def rebuild(plaintext: bytes, media_type: str, settings: DisarmSettings) -> SafeCopy:
    if media_type == sniffing.PDF:
        return rebuild_pdf(plaintext, settings)
    if media_type in IMAGES:
        return rebuild_image(plaintext, media_type, settings)
    return rebuild_text(plaintext)
