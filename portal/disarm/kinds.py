"""The kinds of document a safe copy can be made of, as the type check names them."""

from __future__ import annotations

from portal.attachments import sniffing

IMAGES = frozenset({sniffing.PNG, sniffing.JPEG})
# Every kind LibreOffice converts to PDF before its pages are rendered: those the upload accepts
# (legacy and macro-enabled Office files are refused there: docs/attachments.md).
OFFICE_EXTENSIONS = {
    sniffing.DOCX: ".docx",
    sniffing.XLSX: ".xlsx",
    sniffing.PPTX: ".pptx",
    sniffing.ODT: ".odt",
    sniffing.ODS: ".ods",
    sniffing.ODP: ".odp",
}
SUPPORTED = IMAGES | {sniffing.PDF, sniffing.TEXT}
# Every kind a safe copy can be made of: `[attachments] allowed_types` may list no other
# (portal.settings.SAFE_COPY_TYPES, a copy the settings check it against).
ALL = SUPPORTED | frozenset(OFFICE_EXTENSIONS)
