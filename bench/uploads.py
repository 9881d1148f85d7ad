"""A PDF document uploaded as the portal's answer page sends it: a multipart form with the
form token before the file (the upload reader checks the token before it reads any of the
file), the file streamed in pieces of any size."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

PDF_HEAD = b"%PDF-1.7\n"
PDF_TAIL = b"\n%%EOF\n"
PIECE = 1024 * 1024


class Upload:
    def __init__(self, csrf: str, filename: str) -> None:
        self.boundary = "bench" + secrets.token_hex(8)
        self.csrf = csrf
        self.filename = filename

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    def body(self, size: int) -> Iterator[bytes]:
        """The form, with a PDF of exactly `size` bytes (at least a piece) of random content."""
        yield (
            f'--{self.boundary}\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n'
            f"{self.csrf}\r\n"
            f'--{self.boundary}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="{self.filename}"\r\nContent-Type: application/pdf\r\n\r\n'
        ).encode() + PDF_HEAD
        piece = secrets.token_bytes(PIECE)
        whole, part = divmod(size - len(PDF_HEAD) - len(PDF_TAIL), PIECE)
        for _ in range(whole):
            yield piece
        yield piece[:part] + PDF_TAIL
        yield f"\r\n--{self.boundary}--\r\n".encode()
