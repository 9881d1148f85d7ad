"""The text of a PDF's pages, as PDFium reads it: for tests of the PDFs the portal writes."""

from __future__ import annotations

import pypdfium2


def pdf_text(data: bytes) -> str:
    document = pypdfium2.PdfDocument(data)
    try:
        return "\n".join(page.get_textpage().get_text_range() for page in document)
    finally:
        document.close()
