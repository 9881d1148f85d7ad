"""What the caller and the converter process say to each other through their pipes.

Each message is a record: one line of JSON, then `length` bytes. The request is one record: the
media type and the [disarm] settings, then the document. The answer is records too, and holds
nothing but pixels and text (docs/disarm.md "The trust boundary"):

- `{"code": …, "length": 0}`: no safe copy, and why (at any record boundary);
- `{"kind": "text", "length": n}`: the text, UTF-8;
- `{"kind": "image", "width": w, "height": h, "mode": m, "length": n}`: an image's raw pixels,
  row by row, `n` = w × h × the mode's bytes a pixel;
- `{"kind": "pages", "count": c, "length": 0}`, then `c` records
  `{"kind": "page", "width": w, "height": h, "mode": "RGB", "dpi": d, "length": n}`: the
  pages' raw pixels, each rendered at `d` dots an inch, streamed one page at a time.

The converter writes with `Answer`; the caller reads each line with `parse_record`, which
accepts only a record exactly of this form and says nothing of whether its sizes are allowed
(portal.disarm.assembly checks those).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from PIL import Image

from portal.settings import DisarmSettings

HEADER_LIMIT = 64 * 1024
# The longest answer record line: a page's, with room to spare.
RECORD_LIMIT = 256
# Bytes a pixel, for each mode a picture may be sent in.
MODES = {"L": 1, "LA": 2, "RGB": 3, "RGBA": 4}
TEXT, IMAGE, PAGES, PAGE, CODE = "text", "image", "pages", "page", "code"
_FIELDS = {
    TEXT: {"kind", "length"},
    IMAGE: {"kind", "width", "height", "mode", "length"},
    PAGES: {"kind", "count", "length"},
    PAGE: {"kind", "width", "height", "mode", "dpi", "length"},
    CODE: {"code", "length"},
}


class ProtocolError(Exception):
    """A message that does not follow the protocol."""


@dataclass(frozen=True)
class Record:
    """One answer record's line: `kind` is one of TEXT, IMAGE, PAGES, PAGE, CODE."""

    kind: str
    length: int
    code: str = ""
    width: int = 0
    height: int = 0
    mode: str = ""
    dpi: int = 0
    count: int = 0


def request_header(
    media_type: str, length: int, settings: DisarmSettings, directory: Path | None
) -> bytes:
    return _line(
        {
            "media_type": media_type,
            "length": length,
            "settings": settings.model_dump(),
            "directory": str(directory) if directory is not None else None,
        }
    )


def read_header(stream: BinaryIO) -> dict[str, Any]:
    return parse_header(stream.readline(HEADER_LIMIT))


def parse_header(line: bytes) -> dict[str, Any]:
    if not line.endswith(b"\n"):
        raise ProtocolError("no complete header line")
    try:
        header = json.loads(line)
    except ValueError:
        raise ProtocolError("header is not JSON") from None
    if not isinstance(header, dict) or not _count(header.get("length"), minimum=0):
        raise ProtocolError("header without a length")
    return header


def parse_record(line: bytes) -> Record:
    """The answer record `line` (its newline included) holds, or ProtocolError."""
    fields = parse_header(line)
    kind = CODE if "code" in fields else fields.get("kind")
    if not isinstance(kind, str) or kind not in _FIELDS or set(fields) != _FIELDS[kind]:
        raise ProtocolError("not an answer record")
    record = Record(kind=kind, length=fields["length"])
    if kind == CODE:
        if not isinstance(fields["code"], str) or record.length != 0:
            raise ProtocolError("a code record with content")
        return Record(kind, 0, code=fields["code"])
    if kind == PAGES:
        if not _count(fields["count"], minimum=1) or record.length != 0:
            raise ProtocolError("a page count that is not a count")
        return Record(kind, 0, count=fields["count"])
    if kind == TEXT:
        return record
    return _picture(kind, fields)


def _picture(kind: str, fields: dict[str, Any]) -> Record:
    width, height, mode = fields["width"], fields["height"], fields["mode"]
    dpi = fields.get("dpi", 0)
    if not (_count(width, minimum=1) and _count(height, minimum=1) and _count(dpi, minimum=0)):
        raise ProtocolError("a picture's size is not a size")
    if not isinstance(mode, str) or mode not in MODES:
        raise ProtocolError("a picture in an unknown mode")
    if fields["length"] != width * height * MODES[mode]:
        raise ProtocolError("a picture's byte count does not match its size")
    return Record(kind, fields["length"], width=width, height=height, mode=mode, dpi=dpi)


def _count(value: object, minimum: int) -> bool:
    # bool is an int in Python; true is not a count.
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def _line(header: dict[str, Any]) -> bytes:
    return json.dumps(header, default=str).encode("utf-8") + b"\n"


class Answer:
    """The converter's side: writes the answer's records to `sink` as they are made."""

    def __init__(self, sink: BinaryIO) -> None:
        self._sink = sink

    def fail(self, code: str) -> None:
        self._write(_line({"code": code, "length": 0}))

    def text(self, content: bytes) -> None:
        self._write(_line({"kind": TEXT, "length": len(content)}), content)

    def image(self, picture: Image.Image) -> None:
        self._write(*_pixels({"kind": IMAGE}, picture))

    def pages(self, count: int) -> None:
        self._write(_line({"kind": PAGES, "count": count, "length": 0}))

    def page(self, picture: Image.Image, dpi: int) -> None:
        self._write(*_pixels({"kind": PAGE, "dpi": dpi}, picture))

    def _write(self, *parts: bytes) -> None:
        for part in parts:
            self._sink.write(part)
        self._sink.flush()


def _pixels(fields: dict[str, Any], picture: Image.Image) -> tuple[bytes, bytes]:
    content = picture.tobytes()
    size = {"width": picture.width, "height": picture.height, "mode": picture.mode}
    return _line({**fields, **size, "length": len(content)}), content
