"""The trusted side: the safe copy built, in the worker, from the converter's pixels and text.

Nothing the converter made is decoded here, only checked and copied: each record's declared size
against the limits before its bytes are read, its pixels taken row by row into a picture of
exactly that size (Image.frombytes), which is then encoded here (JPEG, or PNG for a PNG), and a
PDF of the page pictures written here by img2pdf. Text is decoded and cleaned again here.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Protocol

import img2pdf
from PIL import Image

from portal.attachments import sniffing
from portal.disarm.limits import MAX_JPEG_SIDE, page_pixel_cap, pixel_limit
from portal.disarm.outcome import (
    CONVERTER_FAILED,
    OUTPUT_TOO_LARGE,
    TOO_MANY_PAGES,
    CouldNotMakeSafe,
    SafeCopy,
)
from portal.disarm.protocol import IMAGE, MODES, PAGE, PAGES, TEXT, Record
from portal.disarm.text import CONTENT_TYPE as TEXT_TYPE
from portal.disarm.text import clean_text
from portal.settings import DisarmSettings

PDF_TYPE = "application/pdf"
PAGE_JPEG_QUALITY = 85
IMAGE_JPEG_QUALITY = 90
_IMAGE_MODES = {sniffing.PNG: frozenset(MODES), sniffing.JPEG: frozenset({"L", "RGB"})}


def malformed() -> CouldNotMakeSafe:
    """What an answer that does not follow the protocol, or breaks a limit, is refused as."""
    return CouldNotMakeSafe(CONVERTER_FAILED)


class Payload(Protocol):
    """A record's bytes, taken as they come; `close` once `remaining` is 0 hands them on."""

    remaining: int

    def take(self, data: bytes) -> None: ...

    def close(self) -> None: ...


class Builder(Protocol):
    """The safe copy of one kind, built from the answer's records (`start` checks each one)."""

    complete: bool

    def start(self, record: Record) -> Payload | None: ...

    def result(self) -> SafeCopy: ...


class RawPicture:
    """A picture of the declared size and mode, filled from raw bytes a whole row at a time,
    then handed to `filled` with its resolution."""

    def __init__(self, record: Record, filled: Callable[[Image.Image, int], None]) -> None:
        self.picture = Image.new(record.mode, (record.width, record.height))
        self.remaining = record.length
        self._dpi = record.dpi
        self._filled = filled
        self._row = record.width * MODES[record.mode]
        self._pending = bytearray()
        self._top = 0

    def take(self, data: bytes) -> None:
        self.remaining -= len(data)
        self._pending += data
        rows = len(self._pending) // self._row
        if rows:
            size = rows * self._row
            strip = Image.frombytes(
                self.picture.mode, (self.picture.width, rows), bytes(self._pending[:size])
            )
            self.picture.paste(strip, (0, self._top))
            del self._pending[:size]
            self._top += rows

    def close(self) -> None:
        self._filled(self.picture, self._dpi)


class RawBytes:
    """Bytes of the declared length, then handed to `filled`."""

    def __init__(self, length: int, filled: Callable[[bytes], None]) -> None:
        self._content = bytearray()
        self.remaining = length
        self._filled = filled

    def take(self, data: bytes) -> None:
        self.remaining -= len(data)
        self._content += data

    def close(self) -> None:
        self._filled(bytes(self._content))


def encode(picture: Image.Image, kind: str, **options: object) -> bytes:
    out = io.BytesIO()
    try:
        picture.save(out, kind, **options)
    except (OSError, ValueError):  # a picture Pillow cannot encode: no honest answer has one
        raise malformed() from None
    return out.getvalue()


class PagesBuilder:
    """A PDF: the page count first, then each page's pixels, encoded as JPEG as they come."""

    def __init__(self, settings: DisarmSettings) -> None:
        self._settings = settings
        self._count = 0
        self._pictures: list[bytes] = []
        self._size = 0
        self.complete = False

    def start(self, record: Record) -> Payload | None:
        if record.kind == PAGES and self._count == 0:
            if record.count > self._settings.max_pages:
                raise CouldNotMakeSafe(TOO_MANY_PAGES)
            self._count = record.count
            return None
        if record.kind != PAGE or self._count == 0:
            raise malformed()
        fits = record.width * record.height <= page_pixel_cap(self._settings)
        sides = max(record.width, record.height) <= MAX_JPEG_SIDE
        if not (fits and sides and record.mode == "RGB" and 1 <= record.dpi <= self._settings.dpi):
            raise malformed()
        return RawPicture(record, self._add_page)

    def _add_page(self, pixels: Image.Image, dpi: int) -> None:
        # The resolution makes img2pdf give the page the original page's size.
        picture = encode(pixels, "JPEG", quality=PAGE_JPEG_QUALITY, dpi=(dpi, dpi))
        self._size += len(picture)
        if self._size > self._settings.max_output_bytes:
            raise CouldNotMakeSafe(OUTPUT_TOO_LARGE)
        self._pictures.append(picture)
        self.complete = len(self._pictures) == self._count

    def result(self) -> SafeCopy:
        # img2pdf copies each JPEG in as it is (this side's own JPEGs, just made).
        content = img2pdf.convert(self._pictures, engine=img2pdf.Engine.internal, nodate=True)
        if len(content) > self._settings.max_output_bytes:
            raise CouldNotMakeSafe(OUTPUT_TOO_LARGE)
        return SafeCopy(content=content, content_type=PDF_TYPE, pages=self._count)


class ImageBuilder:
    """An image: one picture's pixels, encoded again as the kind it came as (PNG or JPEG)."""

    def __init__(self, media_type: str, settings: DisarmSettings) -> None:
        self._media_type = media_type
        self._settings = settings
        self._content = b""
        self.complete = False

    def start(self, record: Record) -> Payload | None:
        if record.kind != IMAGE:
            raise malformed()
        fits = record.width * record.height <= pixel_limit(self._settings)
        if self._media_type == sniffing.JPEG:
            fits = fits and max(record.width, record.height) <= MAX_JPEG_SIDE
        if not fits or record.mode not in _IMAGE_MODES[self._media_type]:
            raise malformed()
        return RawPicture(record, self._encode)

    def _encode(self, pixels: Image.Image, _dpi: int) -> None:
        if self._media_type == sniffing.JPEG:
            content = encode(pixels, "JPEG", quality=IMAGE_JPEG_QUALITY)
        else:
            content = encode(pixels, "PNG")
        if len(content) > self._settings.max_output_bytes:
            raise CouldNotMakeSafe(OUTPUT_TOO_LARGE)
        self._content, self.complete = content, True

    def result(self) -> SafeCopy:
        return SafeCopy(content=self._content, content_type=self._media_type, pages=None)


class TextBuilder:
    """Text: decoded as UTF-8 and cleaned again here, whatever the converter did."""

    def __init__(self, settings: DisarmSettings) -> None:
        self._settings = settings
        self._content = b""
        self.complete = False

    def start(self, record: Record) -> Payload | None:
        if record.kind != TEXT:
            raise malformed()
        if record.length > self._settings.max_output_bytes:
            raise CouldNotMakeSafe(OUTPUT_TOO_LARGE)
        return RawBytes(record.length, self._clean)

    def _clean(self, sent: bytes) -> None:
        try:
            content = clean_text(sent)
        except CouldNotMakeSafe:  # not UTF-8, or a NUL: the converter sends only clean text
            raise malformed() from None
        if len(content) > self._settings.max_output_bytes:
            raise CouldNotMakeSafe(OUTPUT_TOO_LARGE)
        self._content, self.complete = content, True

    def result(self) -> SafeCopy:
        return SafeCopy(content=self._content, content_type=TEXT_TYPE, pages=None)


def builder_for(media_type: str, settings: DisarmSettings) -> Builder:
    """What the answer for a document of `media_type` must hold: decided here, from the type
    the upload's check found, never from the converter."""
    if media_type == sniffing.TEXT:
        return TextBuilder(settings)
    if media_type in _IMAGE_MODES:
        return ImageBuilder(media_type, settings)
    return PagesBuilder(settings)
