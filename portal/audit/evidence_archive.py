"""Reading what an IG officer hands back to be checked: the export ZIP the evidence page gave
(portal/audit/export.py), or the bare evidence file taken out of it, from a file on disk (the
command) or an upload spooled to one (the page).

Nothing is extracted and nothing is read whole. The ZIP is opened where it lies; only the
members an export holds are accepted (so no path in it is ever used). A member is streamed:
the evidence a line at a time, each line at most MAX_LINE_CHARS, so memory is bounded per line
whatever the file's length. What a member inflates to is capped as it is read by the
compressed bytes read for it (MAX_RATIO, past a small floor): genuine exports, JSON with a hash
on every line, compress a few times over; a "bomb" (a few kilobytes of newlines inflating to
gigabytes, a thousand to one) is refused as soon as it passes the ratio, not read to its end.
"""

from __future__ import annotations

import io
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO

from portal.audit.export_format import CSV_MEMBER, EVIDENCE_MEMBER, KEY_MEMBER, README_MEMBER

EXPORT_MEMBERS = frozenset({CSV_MEMBER, EVIDENCE_MEMBER, KEY_MEMBER, README_MEMBER})
# The longest line an export writes is one event with its details: far below this.
MAX_LINE_CHARS = 1024 * 1024
# A member may inflate to MAX_RATIO times its compressed size, and always to FLOOR_BYTES.
MAX_RATIO = 100
FLOOR_BYTES = 1024 * 1024
_ZIP_MAGIC = b"PK\x03\x04"
_DAMAGE = (zipfile.BadZipFile, zlib.error, OSError, EOFError, RuntimeError, NotImplementedError)


class EvidenceUnreadable(Exception):
    """Not an export ZIP or an evidence file that can be read; the message says why."""


def is_zip(source: IO[bytes]) -> bool:
    """Whether the file (seekable, at its start) is a ZIP; it is left at its start."""
    start = source.read(len(_ZIP_MAGIC))
    source.seek(0)
    return start == _ZIP_MAGIC


def looks_like_evidence(source: IO[bytes]) -> bool:
    """Whether the file (seekable, at its start) starts as an evidence file does."""
    start = source.read(4096).lstrip()
    source.seek(0)
    return start[:1] == b"{"


class _Counted:
    """The archive file, counting the bytes read from it: what a member's decompression has
    consumed so far, to hold what it inflates to within MAX_RATIO of that."""

    def __init__(self, source: IO[bytes]) -> None:
        self.source, self.read_bytes = source, 0

    def read(self, size: int = -1) -> bytes:
        data = self.source.read(size)
        self.read_bytes += len(data)
        return data

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.source.seek(offset, whence)

    def tell(self) -> int:
        return self.source.tell()

    def seekable(self) -> bool:
        return True


def open_export(source: IO[bytes]) -> zipfile.ZipFile:
    """The export ZIP, its members checked against what an export holds."""
    try:
        archive = zipfile.ZipFile(_Counted(source))
    except (zipfile.BadZipFile, OSError):
        raise EvidenceUnreadable("The ZIP is damaged: it cannot be opened.") from None
    names = archive.namelist()
    unexpected = sorted(set(names) - EXPORT_MEMBERS)
    if unexpected:
        archive.close()
        raise EvidenceUnreadable(
            f"The ZIP holds files an audit export never holds: {', '.join(unexpected[:5])}."
        )
    if len(names) != len(set(names)):
        archive.close()
        raise EvidenceUnreadable("The ZIP holds two files with the same name.")
    if EVIDENCE_MEMBER not in names:
        archive.close()
        raise EvidenceUnreadable(f"The ZIP has no {EVIDENCE_MEMBER}: it was removed.")
    return archive


@contextmanager
def member_bytes(archive: zipfile.ZipFile, name: str) -> Iterator[IO[bytes]]:
    """A member's bytes as a stream, refused (EvidenceUnreadable) past the inflation cap or
    when damaged."""
    info = archive.getinfo(name)
    if info.file_size > FLOOR_BYTES + MAX_RATIO * info.compress_size:
        raise EvidenceUnreadable(_inflates(name))
    counted = archive.fp
    assert isinstance(counted, _Counted)  # noqa: S101 - open_export made it
    try:
        with archive.open(info) as member:
            yield io.BufferedReader(_Capped(member, counted, name))
    except _DAMAGE:
        raise EvidenceUnreadable(f"{name} in the ZIP is damaged: it cannot be read.") from None


def evidence_lines(stream: IO[bytes]) -> Iterator[str]:
    """The evidence file's lines, one at a time, each at most MAX_LINE_CHARS."""
    text = io.TextIOWrapper(stream, encoding="utf-8")
    number = 0
    try:
        while line := text.readline(MAX_LINE_CHARS + 1):
            number += 1
            if len(line) > MAX_LINE_CHARS:
                raise EvidenceUnreadable(
                    f"Line {number} of the evidence file is longer than any line an export "
                    "writes: not read."
                )
            yield line
    except UnicodeDecodeError:
        raise EvidenceUnreadable("The evidence file is not text (UTF-8).") from None
    except _DAMAGE:
        raise EvidenceUnreadable(f"{EVIDENCE_MEMBER} is damaged: it cannot be read.") from None
    finally:
        text.detach()


def read_at_most(stream: IO[bytes], limit: int) -> bytes:
    """Up to `limit` bytes of the stream (one more tells the caller it is longer)."""
    try:
        return stream.read(limit)
    except _DAMAGE:
        raise EvidenceUnreadable("A file in the ZIP is damaged: it cannot be read.") from None


class _Capped(io.RawIOBase):
    """A member's decompressed bytes, refused once they pass MAX_RATIO times the compressed
    bytes read for them (and FLOOR_BYTES)."""

    def __init__(self, member: IO[bytes], counted: _Counted, name: str) -> None:
        self._member, self._counted, self._name = member, counted, name
        self._start, self._inflated = counted.read_bytes, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self._member.read(len(buffer))
        self._inflated += len(data)
        consumed = self._counted.read_bytes - self._start
        if self._inflated > FLOOR_BYTES + MAX_RATIO * consumed:
            raise EvidenceUnreadable(_inflates(self._name))
        buffer[: len(data)] = data
        return len(data)


def _inflates(name: str) -> str:
    return f"{name} in the ZIP inflates far past what an export does: it was not read."
