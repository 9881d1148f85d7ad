"""make_safe: a document's safe copy, made by a converter process in a sandbox.

The caller blocks until the converter answers or its time runs out: only the disarm worker
calls this, never a web process.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from portal.disarm.isolation import SandboxUnavailable
from portal.disarm.kinds import OFFICE_EXTENSIONS, SUPPORTED
from portal.disarm.office import private_directory
from portal.disarm.outcome import (
    CODES,
    CONVERTER_FAILED,
    CONVERTER_MISSING,
    OUTPUT_TOO_LARGE,
    SANDBOX_UNAVAILABLE,
    CouldNotMakeSafe,
    SafeCopy,
)
from portal.disarm.protocol import HEADER_LIMIT, ProtocolError, parse_header, request_header
from portal.disarm.sandbox import exchange
from portal.settings import DisarmSettings


def make_safe(plaintext: bytes, media_type: str, settings: DisarmSettings) -> SafeCopy:
    """The safe copy of `plaintext` (a file of `media_type`), or CouldNotMakeSafe(code)."""
    if media_type not in SUPPORTED and media_type not in OFFICE_EXTENSIONS:
        raise CouldNotMakeSafe(CONVERTER_MISSING)
    with _workspace(media_type) as directory:
        request = [request_header(media_type, len(plaintext), settings, directory), plaintext]
        try:
            limit = settings.max_output_bytes + HEADER_LIMIT
            done = exchange(request, settings, limit, directory)
        except SandboxUnavailable:
            raise CouldNotMakeSafe(SANDBOX_UNAVAILABLE) from None
    if done.overflowed:
        raise CouldNotMakeSafe(OUTPUT_TOO_LARGE)
    header, content = _answer(done.output)
    if header is None:  # no complete answer: how the converter ended says why
        raise CouldNotMakeSafe(done.failure())
    code = header.get("code")
    if code is not None:
        raise CouldNotMakeSafe(code if code in CODES else CONVERTER_FAILED)
    pages = header.get("pages")
    return SafeCopy(
        content=content,
        content_type=str(header.get("content_type")),
        pages=pages if isinstance(pages, int) else None,
        peak_memory_bytes=done.peak_memory_bytes,
    )


@contextlib.contextmanager
def _workspace(media_type: str) -> Iterator[Path | None]:
    # An office document's private directory is made and removed here, not in the converter
    # process, so that it goes even when that process is killed.
    if media_type not in OFFICE_EXTENSIONS:
        yield None
        return
    try:
        with private_directory() as directory:
            yield directory
    except OSError:
        raise CouldNotMakeSafe(SANDBOX_UNAVAILABLE) from None


def _answer(output: bytes) -> tuple[dict[str, Any] | None, bytes]:
    """The answer's header and content, or None for an answer cut short or garbled."""
    line, newline, content = output.partition(b"\n")
    try:
        header = parse_header(line + newline)
    except ProtocolError:
        return None, b""
    if len(content) != header["length"]:
        return None, b""
    return header, content
