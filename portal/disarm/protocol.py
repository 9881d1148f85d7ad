"""What the caller and the converter process say to each other through their pipes.

Each message is one line of JSON, then `length` bytes. The request carries the media type and
the [disarm] settings, then the document; the answer carries either the safe copy's type and
page count, then the copy, or only the code saying why there is none.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, BinaryIO

from portal.disarm.outcome import SafeCopy
from portal.settings import DisarmSettings

HEADER_LIMIT = 64 * 1024


class ProtocolError(Exception):
    """A message that does not follow the protocol."""


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


def success_header(copy: SafeCopy) -> bytes:
    return _line(
        {"content_type": copy.content_type, "pages": copy.pages, "length": len(copy.content)}
    )


def failure_header(code: str) -> bytes:
    return _line({"code": code, "length": 0})


def read_header(stream: BinaryIO) -> dict[str, Any]:
    return parse_header(stream.readline(HEADER_LIMIT))


def parse_header(line: bytes) -> dict[str, Any]:
    if not line.endswith(b"\n"):
        raise ProtocolError("no complete header line")
    try:
        header = json.loads(line)
    except ValueError:
        raise ProtocolError("header is not JSON") from None
    if not isinstance(header, dict) or not isinstance(header.get("length"), int):
        raise ProtocolError("header without a length")
    if header["length"] < 0:
        raise ProtocolError("negative length")
    return header


def _line(header: dict[str, Any]) -> bytes:
    return json.dumps(header, default=str).encode("utf-8") + b"\n"
