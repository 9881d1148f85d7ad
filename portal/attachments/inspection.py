"""The portal's own inspection of ZIP-based documents, before and beside the scanner
(docs/attachments.md, "Inspection").

Fed the upload's pieces as they arrive, beside the type sniffer: no second pass over the file.
A file starting with a ZIP signature is walked strictly by `zip_walk` (structure, sizes, CRCs,
bounds) while each member's content is checked here: no archive or OLE2 compound file inside it
(how OOXML embeds objects and macros), no macros. An OLE2 file itself (Word or Excel 97-2003)
is refused outright. Anything else passes, unless a ZIP end record near its end has a central
directory just before it, as zipfile reads one: a ZIP with something put in front of it (a
self-extracting program, an image or PDF polyglot), whatever bytes follow the record.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from portal.attachments import refusals
from portal.attachments.refusals import UploadRefused
from portal.attachments.sniffing import OLE2_MAGIC
from portal.attachments.zip_walk import CENTRAL, DESCRIPTOR, END, LOCAL, ZipWalk
from portal.settings import AttachmentSettings

_LOCATOR = b"PK\x06\x07"  # the zip64 end record's locator: 20 bytes, just before the end record
_ZIP_SIGNATURES = (LOCAL, CENTRAL, END, DESCRIPTOR, b"PK\x06\x06", _LOCATOR)
_DECIDE_BYTES = len(OLE2_MAGIC)
# Formats whose content is itself an archive: ZIP, gzip, xz, 7-Zip, RAR, cabinet, Zstandard.
_ARCHIVE_MAGIC = (
    LOCAL,
    END,
    DESCRIPTOR,
    b"\x1f\x8b\x08",
    b"\xfd7zXZ\x00",
    b"7z\xbc\xaf\x27\x1c",
    b"Rar!\x1a\x07",
    b"MSCF\x00\x00\x00\x00",
    b"\x28\xb5\x2f\xfd",
)
_BZIP2 = re.compile(rb"BZh[1-9](?:1AY&SY|\x17rE8P\x90)")  # a block, or the empty stream's end
_MAGIC_BYTES = 10
# OOXML keeps a VBA project in vbaProject.bin (Word's macros' data in vbaData.xml) and names
# its content type in [Content_Types].xml; OpenDocument keeps macros under Basic/ and Scripts/.
_MACRO_PARTS = frozenset({"vbaproject.bin", "vbadata.xml"})
_ODF_MACRO_FOLDERS = ("basic/", "scripts/")
_CONTENT_TYPES = "[content_types].xml"
_MACRO_TYPES = (b"vbaproject", b"vbadata", b"macroenabled")
_OVERLAP = max(len(marker) for marker in _MACRO_TYPES) - 1
# A ZIP end record (22 bytes) in the last 64 KiB + 22 bytes of a file that does not start as a
# ZIP, where zipfile and other readers look for one: those bytes of every other file are kept.
_TAIL_BYTES = 22 + 0xFFFF
_END_RECORD = 22


class ContainerInspector:
    """Fed the whole file in order as it streams in (bounded memory); `verdict()` then raises
    UploadRefused for a container the portal will not take, and returns for anything else."""

    def __init__(self, settings: AttachmentSettings) -> None:
        self._settings = settings
        self._start = bytearray()  # until there are enough bytes to decide what the file is
        self._walk: ZipWalk | None = None
        self._tail: bytearray | None = None
        self._size = 0  # of the whole file, once it is known not to start as a ZIP
        self._refused: UploadRefused | None = None

    def feed(self, data: bytes) -> None:
        if self._walk is not None:
            self._walk.feed(data)
        elif self._tail is not None:
            self._size += len(data)
            self._tail += data
            if len(self._tail) > 2 * _TAIL_BYTES:  # trimmed in large steps, not every piece
                del self._tail[: len(self._tail) - _TAIL_BYTES]
        elif self._refused is None:
            self._start += data
            if len(self._start) >= _DECIDE_BYTES:
                self._decide()

    def verdict(self) -> None:
        if self._walk is None and self._tail is None and self._refused is None:
            self._decide()  # a file shorter than the bytes needed to decide
        if self._refused is not None:
            raise self._refused
        if self._walk is not None:
            self._walk.finish()
        elif self._tail is not None and _holds_zip_end_record(bytes(self._tail), self._size):
            raise refusals.inspected(refusals.EXTRA_DATA)

    def _decide(self) -> None:
        start, self._start = bytes(self._start), bytearray()
        if start.startswith(OLE2_MAGIC):
            self._refused = refusals.inspected(refusals.LEGACY_OFFICE)
        elif start[:4] in _ZIP_SIGNATURES:
            self._walk = ZipWalk(self._settings, MemberContent())
            self._walk.feed(start)
        else:
            self._tail = bytearray()
            self.feed(start)


def inspect_chunks(chunks: Iterable[bytes], settings: AttachmentSettings) -> None:
    """Inspect a whole file given as chunks; raises UploadRefused."""
    inspector = ContainerInspector(settings)
    for chunk in chunks:
        inspector.feed(chunk)
    inspector.verdict()


class MemberContent:
    """Checks each member's name and first bytes, as the walk streams its content past."""

    def __init__(self) -> None:
        self._head = b""
        self._content_types: bytes | None = None  # the end of [Content_Types].xml so far

    def start(self, name: str) -> None:
        folded = name.casefold()
        if folded.rsplit("/", 1)[-1] in _MACRO_PARTS or folded.startswith(_ODF_MACRO_FOLDERS):
            raise refusals.inspected(refusals.MACROS)
        self._head = b""
        self._content_types = b"" if folded == _CONTENT_TYPES else None

    def data(self, piece: bytes) -> None:
        if len(self._head) < _MAGIC_BYTES:
            self._head += piece[: _MAGIC_BYTES - len(self._head)]
            if len(self._head) == _MAGIC_BYTES:
                _check_head(self._head)
        if self._content_types is not None:
            window = self._content_types + piece.lower()
            if any(marker in window for marker in _MACRO_TYPES):
                raise refusals.inspected(refusals.MACROS)
            self._content_types = window[-_OVERLAP:]

    def end(self) -> None:
        if len(self._head) < _MAGIC_BYTES:
            _check_head(self._head)


def _check_head(head: bytes) -> None:
    if head.startswith(OLE2_MAGIC):
        raise refusals.inspected(refusals.EMBEDDED_OBJECT)
    if head.startswith(_ARCHIVE_MAGIC) or _BZIP2.match(head):
        raise refusals.inspected(refusals.NESTED_ARCHIVE)


def _holds_zip_end_record(tail: bytes, size: int) -> bool:
    """An end record among the last `tail` bytes of a file of `size` that zipfile would open:
    it reads the central directory just before the record (whatever offset the record gives,
    which it only uses to find where the archive starts), or a zip64 record before that.
    Whatever follows the record. A directory starting before the kept bytes counts too."""
    start = size - len(tail)  # where the tail is in the file
    position = tail.rfind(END)
    while position != -1:
        if len(tail) - position >= _END_RECORD and _opens(tail, position, start + position):
            return True
        position = tail.rfind(END, 0, position)
    return False


def _opens(tail: bytes, position: int, in_file: int) -> bool:
    """Whether zipfile finds a directory for the end record at `position` in `tail`
    (`in_file` in the whole file)."""
    if position >= 20 and tail[position - 20 : position - 16] == _LOCATOR:
        return True
    directory_size = int.from_bytes(tail[position + 12 : position + 16], "little")
    directory = position - directory_size  # in the tail; negative: before the kept bytes
    if not 0 < directory_size <= in_file:
        return False  # no directory (an empty archive holds nothing), or none that fits
    return directory < 0 or tail[directory : directory + 4] == CENTRAL
