"""PDFs: every page rendered to pixels by PDFium, and a plain PDF rebuilt from the pictures.

The copy holds one JPEG picture per page and nothing else: no text, fonts, JavaScript, actions,
links, annotations, forms, attachments or metadata of the original survive, because nothing of
the original is copied, only what its pages look like. pypdfium2's PDFium is built without a
JavaScript engine (V8) or XFA forms, so rendering runs no script either. Each page becomes a
JPEG at `dpi` and img2pdf writes those JPEGs into the new PDF as they are (no second encoding),
each page the size of the original page.

A page so large that its picture would pass PAGE_PIXEL_CAP (or the memory budget) is rendered
at a lower resolution to fit (a page too large even at one pixel an inch is refused, "memory");
a document of more than `max_pages` pages is refused before any page is rendered.
"""

from __future__ import annotations

import io
import math

import img2pdf
import pypdfium2 as pdfium

from portal.disarm.images import pixel_limit
from portal.disarm.outcome import (
    MEMORY,
    OUTPUT_TOO_LARGE,
    TOO_MANY_PAGES,
    UNREADABLE,
    CouldNotMakeSafe,
    SafeCopy,
)
from portal.settings import DisarmSettings

CONTENT_TYPE = "application/pdf"
# 40 million pixels: an A0 page at 150 dpi is 35 million. Larger pages are rendered smaller.
PAGE_PIXEL_CAP = 40_000_000
JPEG_QUALITY = 85


def rebuild_pdf(plaintext: bytes, settings: DisarmSettings) -> SafeCopy:
    try:
        document = pdfium.PdfDocument(plaintext)
    except pdfium.PdfiumError:
        raise CouldNotMakeSafe(UNREADABLE) from None
    try:
        count = len(document)
        if count > settings.max_pages:
            raise CouldNotMakeSafe(TOO_MANY_PAGES)
        if count == 0:
            raise CouldNotMakeSafe(UNREADABLE)
        pictures = _render_pages(document, settings)
    finally:
        document.close()
    content = img2pdf.convert(pictures, engine=img2pdf.Engine.internal, nodate=True)
    if len(content) > settings.max_output_bytes:
        raise CouldNotMakeSafe(OUTPUT_TOO_LARGE)
    return SafeCopy(content=content, content_type=CONTENT_TYPE, pages=count)


def _render_pages(document: pdfium.PdfDocument, settings: DisarmSettings) -> list[bytes]:
    pictures: list[bytes] = []
    total = 0
    cap = min(PAGE_PIXEL_CAP, pixel_limit(settings))
    for index in range(len(document)):
        try:
            picture = _render_page(document[index], settings.dpi, cap)
        except pdfium.PdfiumError:
            raise CouldNotMakeSafe(UNREADABLE) from None
        total += len(picture)
        if total > settings.max_output_bytes:
            raise CouldNotMakeSafe(OUTPUT_TOO_LARGE)
        pictures.append(picture)
    return pictures


def _render_page(page: pdfium.PdfPage, dpi: int, cap: int) -> bytes:
    try:
        width, height = page.get_size()  # in points, 1/72 inch
        if not (width > 0 and height > 0 and math.isfinite(width * height)):
            raise CouldNotMakeSafe(UNREADABLE)
        dpi = _fitting_dpi(width, height, dpi, cap)
        bitmap = page.render(scale=dpi / 72, may_draw_forms=False, rev_byteorder=True)
        try:
            picture = bitmap.to_pil().convert("RGB")
        finally:
            bitmap.close()
    finally:
        page.close()
    out = io.BytesIO()
    # The resolution makes img2pdf give the page the original page's size.
    picture.save(out, "JPEG", quality=JPEG_QUALITY, dpi=(dpi, dpi))
    return out.getvalue()


def _fitting_dpi(width: float, height: float, dpi: int, cap: int) -> int:
    """`dpi`, or a lower resolution at which the page's picture has at most `cap` pixels."""
    pixels = (width * dpi / 72) * (height * dpi / 72)
    if pixels <= cap:
        return dpi
    fitting = math.floor(dpi * math.sqrt(cap / pixels))
    if fitting < 1:  # a page over 6,000 inches on a side, even at one pixel an inch
        raise CouldNotMakeSafe(MEMORY)
    return fitting
