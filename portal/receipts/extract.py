"""The child process that reads an uploaded PDF: `python -m portal.receipts.extract`.

A PDF can be made to decompress to gigabytes from a few kilobytes (a stream or object stream
compressed twice, a name tree pointing many entries at one huge stream). So the web worker
never parses one: this process does, under its own limits, set before pikepdf is imported
(RLIMIT_AS, RLIMIT_CPU, no files written, no processes started). The caller
(portal.receipts.reading) gives it a wall-clock deadline too, and any death is "could not be
read".

It reads the upload on its standard input and writes one JSON object on its standard output:
{"receipt": base64 or null, "content": base64 or null} or {"error": code}. Inside, only the
two files the copy carries are looked up, by name, in a PDF carrying at most a few files; each
is taken only stored as is or with one /FlateDecode filter, and inflated with a cap (a receipt
is under a kilobyte; the content at most the upload's size). Nothing is written anywhere else.

This module imports only the standard library and pikepdf (not the portal's other modules).
"""

from __future__ import annotations

import base64
import json
import resource
import sys
import zlib
from typing import Any

MEMORY_BYTES = 384 * 1024 * 1024
CPU_SECONDS = 2
MAX_FILES = 4  # the copy carries two
RECEIPT_CAP = 4 * 1024
# The largest upload the page takes (portal.receipts.routes), and the most the content file
# may inflate to. The largest possible content (the school form with every text at its longest,
# six children, in characters JSON writes as 12-byte escapes) is 3.8 MB; its PDF, the content
# compressed, under 1 MB (tests/unit/test_copy_pdf_size.py).
MAX_UPLOAD_BYTES = 8 * 1024 * 1024
# The file names, as portal.contributions.receipts names them (RECEIPT_FILE, CONTENT_FILE).
RECEIPT_NAME = "receipt.json"
CONTENT_NAME = "content.json"
# Error codes: the caller says them in plain words.
UNREADABLE, TOO_MANY, NO_RECEIPT, TOO_LARGE, FILTER, BUSY = (
    "unreadable",
    "too_many_files",
    "no_receipt",
    "too_large",
    "filter",
    "busy",  # the web worker's own: as many PDFs as it reads at once are being read
)


class Refused(Exception):
    """The PDF is refused; args[0] is the code."""


def limit_self() -> None:
    """Bound this process before it reads anything: memory, CPU, files written, children."""
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_BYTES, MEMORY_BYTES))
    resource.setrlimit(resource.RLIMIT_CPU, (CPU_SECONDS, CPU_SECONDS + 1))
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_NPROC, (0, 0))


def _inflated(stream: Any, cap: int) -> bytes:
    """The stream's bytes: stored, or one /FlateDecode without parameters; at most `cap`."""
    import pikepdf

    filters = stream.get("/Filter")
    if isinstance(filters, pikepdf.Array):
        filters = filters[0] if len(filters) == 1 else "many"
    if "/DecodeParms" in stream and filters is not None:
        raise Refused(FILTER)
    raw = stream.read_raw_bytes()
    if filters is None:
        data = raw
    elif filters == pikepdf.Name.FlateDecode:
        try:
            data = zlib.decompressobj().decompress(raw, cap + 1)
        except zlib.error:
            raise Refused(UNREADABLE) from None
    else:
        raise Refused(FILTER)
    if len(data) > cap:
        raise Refused(TOO_LARGE)
    return bytes(data)


def _embedded(pdf: Any, name: str, cap: int) -> bytes | None:
    import pikepdf

    spec = pdf.attachments.get(name)
    if spec is None:
        return None
    files = spec.obj.get("/EF")
    stream = files.get("/F") if isinstance(files, pikepdf.Dictionary) else None
    if not isinstance(stream, pikepdf.Stream):
        raise Refused(UNREADABLE)
    return _inflated(stream, cap)


def extract(data: bytes) -> dict[str, str | None]:
    """The receipt and content files a PDF carries, base64-encoded (content may be None)."""
    import io

    import pikepdf

    try:
        with pikepdf.open(io.BytesIO(data)) as pdf:
            if len(pdf.attachments) > MAX_FILES:
                raise Refused(TOO_MANY)
            receipt = _embedded(pdf, RECEIPT_NAME, RECEIPT_CAP)
            if receipt is None:
                raise Refused(NO_RECEIPT)
            content = _embedded(pdf, CONTENT_NAME, MAX_UPLOAD_BYTES)
    except (pikepdf.PdfError, ValueError, TypeError, KeyError, AttributeError):
        raise Refused(UNREADABLE) from None
    return {
        "receipt": base64.b64encode(receipt).decode(),
        "content": None if content is None else base64.b64encode(content).decode(),
    }


def main() -> None:
    limit_self()
    data = sys.stdin.buffer.read()
    try:
        answer: dict[str, str | None] = extract(data)
    except Refused as refused:
        answer = {"error": str(refused.args[0])}
    sys.stdout.write(json.dumps(answer))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
