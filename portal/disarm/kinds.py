"""The kinds of document a safe copy can be made of, as the type check names them."""

from __future__ import annotations

from portal.attachments import sniffing

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
