"""What a file is, from its content as it streams past (never its name), in bounded memory.

Magic numbers decide PDF, PNG and JPEG. ZIP-based documents are told apart by the member names
in the ZIP's central directory, which sits at the end of the file, so the last bytes are kept
and read with the standard library's ZIP reader. Word 97-2003 files are OLE2 compound files
holding a "WordDocument" stream, found among the 128-byte directory entries as they pass; they
are named here only to be refused (the inspection refuses every OLE2 file: inspection.py).
Plain text is valid UTF-8 without NUL bytes, checked over the whole file.
"""

from __future__ import annotations

import codecs
import io
import zipfile

PDF = "application/pdf"
PNG = "image/png"
JPEG = "image/jpeg"
TEXT = "text/plain"
DOC = "application/msword"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
DOCM = "application/vnd.ms-word.document.macroEnabled.12"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
XLSM = "application/vnd.ms-excel.sheet.macroEnabled.12"
PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
PPTM = "application/vnd.ms-powerpoint.presentation.macroEnabled.12"
ODT = "application/vnd.oasis.opendocument.text"
ODS = "application/vnd.oasis.opendocument.spreadsheet"
ODP = "application/vnd.oasis.opendocument.presentation"
ZIP = "application/zip"
OLE2 = "application/x-ole-storage"

PREFIX_BYTES = 8 * 1024
# Enough for the end-of-central-directory search (64 KiB comment) and a central directory of
# thousands of members; a ZIP whose directory is larger is not recognised.
ZIP_TAIL_BYTES = 1024 * 1024

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_ZIP_MAGIC = b"PK\x03\x04"
OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ODF_TYPES = frozenset({ODT, ODS, ODP})
# OOXML main parts: the folder names the kind; a VBA project makes it the macro-enabled kind.
_OOXML_KINDS = (("word/", DOCX, DOCM), ("xl/", XLSX, XLSM), ("ppt/", PPTX, PPTM))


class TypeSniffer:
    """Feed it the whole file in order; `media_type()` then says what it is, or None."""

    def __init__(self) -> None:
        self._prefix = bytearray()
        self._size = 0
        self._text = _Utf8Text()
        self._container: _ZipTail | _OleDirectory | None = None
        self._decided = False

    def feed(self, data: bytes) -> None:
        if not data:
            return
        seen_before = bytes(self._prefix) if not self._decided else b""
        self._size += len(data)
        if len(self._prefix) < PREFIX_BYTES:
            self._prefix += data[: PREFIX_BYTES - len(self._prefix)]
        self._text.feed(data)
        if not self._decided and len(self._prefix) >= len(OLE2_MAGIC):
            # Everything seen so far is in the prefix: the container reader starts at byte 0.
            self._decided = True
            self._container = _container_for(bytes(self._prefix))
            data = seen_before + data
        if self._container is not None:
            self._container.feed(data)

    def media_type(self) -> str | None:
        head = bytes(self._prefix)
        if head.startswith(b"%PDF-"):
            return PDF
        if head.startswith(_PNG_MAGIC):
            return PNG
        if head.startswith(b"\xff\xd8\xff"):
            return JPEG
        if isinstance(self._container, _ZipTail):
            return self._container.media_type(head, self._size)
        if isinstance(self._container, _OleDirectory):
            return DOC if self._container.has_word_document else OLE2
        if self._size and self._text.valid():
            return TEXT
        return None


def detect_type(data: bytes) -> str | None:
    """The media type of a whole file held in memory (small files and tests)."""
    sniffer = TypeSniffer()
    sniffer.feed(data)
    return sniffer.media_type()


def _container_for(head: bytes) -> _ZipTail | _OleDirectory | None:
    if head.startswith(_ZIP_MAGIC):
        return _ZipTail()
    if head.startswith(OLE2_MAGIC):
        return _OleDirectory()
    return None


class _Utf8Text:
    """Valid UTF-8 with no NUL anywhere: checked incrementally, so memory stays small."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="strict")
        self._ok = True

    def feed(self, data: bytes) -> None:
        if not self._ok:
            return
        if b"\x00" in data:
            self._ok = False
            return
        try:
            self._decoder.decode(data)
        except UnicodeDecodeError:
            self._ok = False

    def valid(self) -> bool:
        if not self._ok:
            return False
        try:
            self._decoder.decode(b"", final=True)  # a sequence cut off at the end
        except UnicodeDecodeError:
            return False
        return True


class _ZipTail:
    """Keeps the last ZIP_TAIL_BYTES, where the central directory is, for `zipfile` to read."""

    def __init__(self) -> None:
        self._tail = bytearray()

    def feed(self, data: bytes) -> None:
        self._tail += data
        # Trim in large steps, not on every write: one copy per megabyte, not per chunk.
        if len(self._tail) > 2 * ZIP_TAIL_BYTES:
            del self._tail[: len(self._tail) - ZIP_TAIL_BYTES]

    def media_type(self, head: bytes, size: int) -> str:
        tail = bytes(self._tail[-ZIP_TAIL_BYTES:])
        try:
            reader = io.BufferedReader(_TailWindow(tail, size))
            with zipfile.ZipFile(reader) as archive:
                members = archive.infolist()
        except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError):
            return ZIP
        if not any(member.header_offset == 0 for member in members):
            return ZIP  # something precedes the archive: not an office document
        names = {member.filename for member in members}
        return _odf_type(head, members) or _ooxml_type(names) or ZIP


def _odf_type(head: bytes, members: list[zipfile.ZipInfo]) -> str | None:
    # OpenDocument: the first member is "mimetype", stored uncompressed, naming the kind.
    first = next((m for m in members if m.header_offset == 0), None)
    if first is None or first.filename != "mimetype" or first.compress_type != 0:
        return None
    if head[26:28] != b"\x08\x00" or head[30:38] != b"mimetype":
        return None
    start = 38 + int.from_bytes(head[28:30], "little")
    declared = head[start : start + first.file_size].decode("ascii", errors="replace")
    manifest = any(m.filename == "META-INF/manifest.xml" for m in members)
    return declared if declared in _ODF_TYPES and manifest else None


def _ooxml_type(names: set[str]) -> str | None:
    if "[Content_Types].xml" not in names:
        return None
    found = [
        macro_type if f"{folder}vbaProject.bin" in names else plain_type
        for folder, plain_type, macro_type in _OOXML_KINDS
        if any(name.startswith(folder) for name in names)
    ]
    return found[0] if len(found) == 1 else None


class _TailWindow(io.RawIOBase):
    """A read-only view of a file of `size` bytes of which only the last bytes are known."""

    def __init__(self, tail: bytes, size: int) -> None:
        super().__init__()
        self._tail = tail
        self._size = size
        self._start = size - len(tail)
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence]
        if base + offset < 0:
            raise OSError("seek before the start of the file")
        self._position = base + offset
        return self._position

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if self._position >= self._size:
            return 0
        if self._position < self._start:
            raise OSError("this part of the file was not kept")
        offset = self._position - self._start
        chunk = self._tail[offset : offset + len(buffer)]
        buffer[: len(chunk)] = chunk
        self._position += len(chunk)
        return len(chunk)


class _OleDirectory:
    """Finds a "WordDocument" stream entry among an OLE2 file's 128-byte directory entries.

    Sectors start at multiples of 512 bytes, so every directory entry starts at a multiple of
    128: only names at those offsets count, never the same bytes inside other content.
    """

    _ENTRY = 128
    _NAME = "WordDocument\x00".encode("utf-16-le")

    def __init__(self) -> None:
        self._pending = bytearray()  # starts at a multiple of 128 bytes into the file
        self.has_word_document = False

    def feed(self, data: bytes) -> None:
        if self.has_word_document:
            return
        self._pending += data
        whole = len(self._pending) - len(self._pending) % self._ENTRY
        position = self._pending.find(self._NAME, 0, whole)
        while position != -1 and not self.has_word_document:
            if position % self._ENTRY == 0 and self._is_stream_entry(position):
                self.has_word_document = True
            position = self._pending.find(self._NAME, position + 1, whole)
        del self._pending[:whole]

    def _is_stream_entry(self, position: int) -> bool:
        entry = self._pending[position : position + self._ENTRY]
        # Name length in bytes, terminator included (little-endian), then object type 2 (stream).
        return entry[64:66] == len(self._NAME).to_bytes(2, "little") and entry[66] == 2
