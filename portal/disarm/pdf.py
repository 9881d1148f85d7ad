"""PDFs (in the converter): every page rendered to pixels by PDFium and sent to the worker.

The worker encodes each page's pixels as a JPEG and builds a plain PDF of those pictures
(portal.disarm.assembly), so no text, fonts, JavaScript, actions, links, annotations, forms,
attachments or metadata of the original survive: nothing of the original is copied, only what
its pages look like. pypdfium2's PDFium is built without a JavaScript engine (V8) or XFA forms,
so rendering runs no script either. Each page is rendered at `dpi` and sent with it, so that
the rebuilt page is the size of the original page.

A page so large that its picture would pass PAGE_PIXEL_CAP (or the memory budget), or be wider
or taller than a JPEG can be, is rendered at a lower resolution to fit (a page too large even at
one pixel an inch is refused, "memory"); a document of more than `max_pages` pages is refused
before any page is rendered, unless its page count is a lie (a page tree that contains itself:
the first page past the limit cannot be loaded), which is "unreadable".
"""

from __future__ import annotations

import math

import pypdfium2 as pdfium

from portal.disarm.limits import MAX_JPEG_SIDE, page_pixel_cap
from portal.disarm.outcome import MEMORY, TOO_MANY_PAGES, UNREADABLE, CouldNotMakeSafe
from portal.disarm.protocol import Answer
from portal.settings import DisarmSettings


def send_pages(plaintext: bytes, settings: DisarmSettings, answer: Answer) -> None:
    try:
        document = pdfium.PdfDocument(plaintext)
    except pdfium.PdfiumError:
        raise CouldNotMakeSafe(UNREADABLE) from None
    try:
        count = len(document)
        if count > settings.max_pages:
            raise CouldNotMakeSafe(_too_many(document, settings.max_pages))
        if count == 0:
            raise CouldNotMakeSafe(UNREADABLE)
        answer.pages(count)
        cap = page_pixel_cap(settings)
        for index in range(count):
            try:
                page = document[index]
            except pdfium.PdfiumError:
                raise CouldNotMakeSafe(UNREADABLE) from None
            _send_page(page, settings.dpi, cap, answer)
    finally:
        document.close()


def _too_many(document: pdfium.PdfDocument, max_pages: int) -> str:
    """TOO_MANY_PAGES if the page past the limit is there, UNREADABLE if the count lied."""
    try:
        document[max_pages].close()
    except pdfium.PdfiumError:
        return UNREADABLE
    return TOO_MANY_PAGES


def _send_page(page: pdfium.PdfPage, dpi: int, cap: int, answer: Answer) -> None:
    try:
        width, height = page.get_size()  # in points, 1/72 inch
        if not (width > 0 and height > 0 and math.isfinite(width * height)):
            raise CouldNotMakeSafe(UNREADABLE)
        dpi = _fitting_dpi(width, height, dpi, cap)
        try:
            bitmap = page.render(scale=dpi / 72, may_draw_forms=False, rev_byteorder=True)
        except pdfium.PdfiumError:
            raise CouldNotMakeSafe(UNREADABLE) from None
        try:
            picture = bitmap.to_pil().convert("RGB")
        finally:
            bitmap.close()
    finally:
        page.close()
    answer.page(picture, dpi)


def _fitting_dpi(width: float, height: float, dpi: int, cap: int) -> int:
    """`dpi`, or the highest lower resolution at which the page's picture (its sides rounded up,
    as PDFium does) has at most `cap` pixels and no side longer than a JPEG's."""
    pixels = (width * dpi / 72) * (height * dpi / 72)
    if pixels > cap:
        dpi = math.floor(dpi * math.sqrt(cap / pixels))
    dpi = min(dpi, math.floor(MAX_JPEG_SIDE * 72 / max(width, height)))
    while dpi >= 1 and not _fits(width, height, dpi, cap):
        dpi -= 1
    if dpi < 1:  # a page over 6,000 inches on a side, even at one pixel an inch
        raise CouldNotMakeSafe(MEMORY)
    return dpi


def _fits(width: float, height: float, dpi: int, cap: int) -> bool:
    scale = dpi / 72  # as it is given to PDFium
    sides = math.ceil(width * scale), math.ceil(height * scale)
    return sides[0] * sides[1] <= cap and max(sides) <= MAX_JPEG_SIDE
