"""A strict, streaming walk over a ZIP file, front to back, in bounded memory.

Each local file header is read in turn and its data decompressed as it streams past (stored
or deflated only), counting the bytes that really come out and checking them against the CRC
and sizes the archive declares. Then the central directory must list exactly the same members,
in the same order, at the same offsets, with the same names, flags, methods, CRCs and sizes, and
the end record must agree with it; nothing may come before, between or after the records, and
the end record has no comment (a reader taking the last end record it finds would read an
archive hidden there). Any departure refuses the file with the reason code of `refusals`
(docs/attachments.md, "Inspection").

The walk is a generator that asks for bytes: `(True, n)` for exactly n, `(False, n)` for
whatever is at hand up to n. `ZipWalk.feed` answers it from the upload's pieces as they come.
"""

from __future__ import annotations

import hashlib
import struct
import unicodedata
import zlib
from collections.abc import Generator
from typing import NamedTuple, Protocol

from portal.attachments import refusals
from portal.attachments.refusals import UploadRefused
from portal.settings import AttachmentSettings

# "Version made by" host 3, and the file kinds a Unix mode may name.
_UNIX = 3
_REGULAR_FILE, _DIRECTORY = 0o100000, 0o040000

LOCAL = b"PK\x03\x04"
CENTRAL = b"PK\x01\x02"
END = b"PK\x05\x06"
DESCRIPTOR = b"PK\x07\x08"
_ZIP64_RECORDS = (b"PK\x06\x06", b"PK\x06\x07")  # zip64 end record and its locator

STORED, DEFLATED = 0, 8
_AES_METHOD = 99
# Traditional encryption (bit 0), strong encryption (bit 6), masked local headers (bit 13).
_ENCRYPTED_FLAGS = 0x0001 | 0x0040 | 0x2000
_DESCRIPTOR_FLAG = 0x0008
_UTF8_FLAG = 0x0800
_ZIP64_EXTRA = 0x0001
_ENCRYPTION_EXTRAS = frozenset({0x0017, 0x9901})  # strong encryption header, WinZip AES
# Extra fields that change nothing a reader sees: NTFS times (0x000a), extended timestamp
# (0x5455), Unix uid/gid (0x7875), and padding: Microsoft's packaging growth hint (0xa220) and
# Android's zipalign (0xd935). Any other, such as Info-ZIP's Unicode path (0x7075) or comment
# (0x6375), which some readers take instead of the name that was checked, is refused.
_HARMLESS_EXTRAS = frozenset({0x000A, 0x5455, 0x7875, 0xA220, 0xD935})
# A member's name, extra field or comment longer than this is not an office document's: refused
# before it is read, so a few bytes of header cannot ask for 64 KiB of work each.
MAX_FIELD_BYTES = 1024
_FULL32 = 0xFFFFFFFF
_FULL16 = 0xFFFF

PIECE = 64 * 1024  # the most decompressed at once: what is held of a member's content
RATIO_FROM = 1024 * 1024  # the compression ratio counts once a member has given this much

Need = tuple[bool, int]
Walk = Generator[Need, bytes, None]


class MemberChecks(Protocol):
    """What the content of each member is checked for, beside the archive's structure."""

    def start(self, name: str) -> None: ...

    def data(self, piece: bytes) -> None: ...

    def end(self) -> None: ...


class _Member(NamedTuple):
    """What the central directory must repeat: about 100 bytes a member, at most max_members."""

    offset: int
    name_digest: bytes
    flags: int
    method: int
    crc: int
    compressed: int
    size: int


class ZipWalk:
    """Feed it the file from its first byte; `finish()` raises UploadRefused unless the walk
    reached the end record exactly at the end of the file. Stops at the first refusal."""

    def __init__(self, settings: AttachmentSettings, checks: MemberChecks) -> None:
        self._settings = settings
        self._checks = checks
        self._members: list[_Member] = []
        self._name_keys: set[bytes] = set()
        self._position = 0  # of the next byte the walk reads
        self._unread = b""  # read past the end of a deflate stream: the next record's start
        self._pending = bytearray()
        self._walk: Walk | None = self._archive()
        self._need: Need = next(self._walk)
        self._refused: UploadRefused | None = None
        self._unpacked = 0  # all members' decompressed bytes so far

    def feed(self, data: bytes) -> None:
        if self._refused is not None:
            return
        if self._walk is None:
            if data:
                self._refuse(refusals.EXTRA_DATA)  # after the end record
            return
        self._pending += data
        while self._walk is not None and self._pending:
            exact, count = self._need
            if exact and len(self._pending) < count:
                return
            piece = bytes(self._pending[:count])
            del self._pending[:count]
            self._step(self._walk, piece)

    def finish(self) -> None:
        if self._refused is None and self._walk is not None:
            self._refuse(refusals.MALFORMED)  # the file ended inside a record
        if self._refused is not None:
            raise self._refused

    def _step(self, walk: Walk, piece: bytes) -> None:
        try:
            self._need = walk.send(piece)
        except StopIteration:
            self._walk = None
            if self._pending:
                self._refuse(refusals.EXTRA_DATA)
        except UploadRefused as refused:
            self._walk = None
            self._refused = refused

    def _refuse(self, reason: str) -> None:
        self._refused = refusals.inspected(reason)
        if self._walk is not None:
            self._walk.close()
            self._walk = None
        self._pending.clear()

    # --- Reading --------------------------------------------------------------------------

    def _read(self, count: int) -> Generator[Need, bytes, bytes]:
        """Exactly `count` bytes."""
        data, self._unread = self._unread[:count], self._unread[count:]
        if len(data) < count:
            data += yield (True, count - len(data))
        self._position += count
        return data

    def _some(self, most: int) -> Generator[Need, bytes, bytes]:
        """Between 1 and `most` bytes, as many as have arrived."""
        if self._unread:
            data, self._unread = self._unread[:most], self._unread[most:]
        else:
            data = yield (False, most)
        self._position += len(data)
        return data

    def _give_back(self, data: bytes) -> None:
        self._unread = data + self._unread
        self._position -= len(data)

    # --- The archive, record by record ----------------------------------------------------

    def _archive(self) -> Walk:
        signature = yield from self._read(4)
        while signature == LOCAL:
            yield from self._member(self._position - 4)
            signature = yield from self._read(4)
        directory_start = self._position - 4
        listed = 0
        while signature == CENTRAL:
            yield from self._directory_entry(listed)
            listed += 1
            signature = yield from self._read(4)
        if signature in _ZIP64_RECORDS:
            raise refusals.inspected(refusals.ZIP64)
        if signature != END:
            raise refusals.inspected(refusals.EXTRA_DATA)
        if listed != len(self._members):
            raise refusals.inspected(refusals.DIRECTORY_MISMATCH)
        yield from self._end_record(directory_start, self._position - 4 - directory_start)

    def _member(self, offset: int) -> Walk:
        if len(self._members) >= self._settings.max_members:
            raise refusals.inspected(refusals.TOO_MANY_MEMBERS)
        header = yield from self._read(26)
        _version, flags, method, _time, _date, crc, compressed, size, name_length, extra_length = (
            struct.unpack("<HHHHHIIIHH", header)
        )
        _check_lengths(name_length, extra_length)
        raw_name = yield from self._read(name_length)
        extra = yield from self._read(extra_length)
        _check_extra(extra)
        _check_method(flags, method)
        if _FULL32 in (compressed, size):
            raise refusals.inspected(refusals.ZIP64)
        name = _member_name(raw_name, flags)
        key = hashlib.sha256(unicodedata.normalize("NFC", name).casefold().encode()).digest()
        if key in self._name_keys:
            raise refusals.inspected(refusals.DUPLICATE_NAMES)
        self._name_keys.add(key)
        self._checks.start(name)
        if flags & _DESCRIPTOR_FLAG:
            real = yield from self._inflate(None)
            declared = yield from self._descriptor()
            if (crc, compressed, size) not in ((0, 0, 0), declared):
                raise refusals.inspected(refusals.SIZE_MISMATCH)
        elif method == DEFLATED:
            real = yield from self._inflate(compressed)
            declared = (crc, compressed, size)
        else:
            real = yield from self._copy(compressed, size)
            declared = (crc, compressed, size)
        _compare(real, declared)
        self._checks.end()
        digest = hashlib.sha256(raw_name).digest()
        self._members.append(_Member(offset, digest, flags, method, *real))

    def _inflate(self, compressed: int | None) -> Generator[Need, bytes, tuple[int, int, int]]:
        """Decompress a deflate stream as it arrives; `compressed` bytes of it, or up to its own
        end when a data descriptor follows. Returns the real (crc, compressed, size)."""
        inflater = zlib.decompressobj(-zlib.MAX_WBITS)
        crc = fed = produced = 0
        while not inflater.eof:
            if compressed is not None and fed == compressed:
                raise refusals.inspected(refusals.SIZE_MISMATCH)  # ends before its stream
            room = PIECE if compressed is None else min(PIECE, compressed - fed)
            data = yield from self._some(room)
            fed += len(data)
            while not inflater.eof:
                out = _decompress(inflater, data)
                data = inflater.unconsumed_tail
                crc = zlib.crc32(out, crc)
                produced += len(out)
                self._count(out, produced, fed - len(data))
                if not data and len(out) < PIECE:
                    break  # all of this input used, and no output held back
        left = inflater.unused_data
        if compressed is not None and (left or fed != compressed):
            raise refusals.inspected(refusals.SIZE_MISMATCH)  # its stream ends before its size
        self._give_back(left)
        return crc, fed - len(left), produced

    def _copy(self, compressed: int, size: int) -> Generator[Need, bytes, tuple[int, int, int]]:
        if compressed != size:
            raise refusals.inspected(refusals.SIZE_MISMATCH)
        crc = produced = 0
        while produced < size:
            data = yield from self._some(min(PIECE, size - produced))
            crc = zlib.crc32(data, crc)
            produced += len(data)
            self._count(data, produced, produced)
        return crc, compressed, produced

    def _count(self, out: bytes, produced: int, consumed: int) -> None:
        """The bounds, checked on every piece as it comes out: a bomb stops early."""
        self._unpacked += len(out)
        if produced > self._settings.max_member_bytes:
            raise refusals.inspected(refusals.MEMBER_TOO_LARGE)
        if self._unpacked > self._settings.max_total_uncompressed_bytes:
            raise refusals.inspected(refusals.UNPACKED_TOO_LARGE)
        ratio = self._settings.max_compression_ratio
        if produced > RATIO_FROM and produced > ratio * max(consumed, 1):
            raise refusals.inspected(refusals.COMPRESSION_RATIO)
        self._checks.data(out)

    def _descriptor(self) -> Generator[Need, bytes, tuple[int, int, int]]:
        """The data descriptor after a deflated member: its signature is optional; 32-bit sizes
        only (a zip64 descriptor leaves bytes that are not a record, refused as extra data)."""
        first = yield from self._read(4)
        if first == DESCRIPTOR:
            first = yield from self._read(4)
        rest = yield from self._read(8)
        crc, compressed, size = struct.unpack("<III", first + rest)
        return crc, compressed, size

    def _directory_entry(self, index: int) -> Walk:
        header = yield from self._read(42)
        fields = struct.unpack("<HHHHHHIIIHHHHHII", header)
        flags, method, crc, compressed, size = fields[2], fields[3], *fields[6:9]
        name_length, extra_length, comment_length, disk, offset = *fields[9:13], fields[15]
        _check_lengths(name_length, extra_length, comment_length)
        _check_file_kind(made_by=fields[0], external=fields[14])
        raw_name = yield from self._read(name_length)
        extra = yield from self._read(extra_length)
        yield from self._read(comment_length)
        _check_extra(extra)
        if _FULL32 in (compressed, size, offset) or disk == _FULL16:
            raise refusals.inspected(refusals.ZIP64)
        listed = _Member(
            offset, hashlib.sha256(raw_name).digest(), flags, method, crc, compressed, size
        )
        if disk != 0 or index >= len(self._members) or listed != self._members[index]:
            raise refusals.inspected(refusals.DIRECTORY_MISMATCH)

    def _end_record(self, directory_start: int, directory_size: int) -> Walk:
        record = yield from self._read(18)
        disk, directory_disk, on_disk, total, size, offset, comment_length = struct.unpack(
            "<HHHHIIH", record
        )
        if _FULL16 in (disk, directory_disk, on_disk, total) or _FULL32 in (size, offset):
            raise refusals.inspected(refusals.ZIP64)
        count = len(self._members)
        expected = (0, 0, count, count, directory_size, directory_start)
        if (disk, directory_disk, on_disk, total, size, offset) != expected:
            raise refusals.inspected(refusals.DIRECTORY_MISMATCH)
        if comment_length:  # office suites write none; zipfile would read an archive in it
            raise refusals.inspected(refusals.EXTRA_DATA)


def _decompress(inflater: zlib._Decompress, data: bytes) -> bytes:
    try:
        return inflater.decompress(data, PIECE)
    except zlib.error:
        raise refusals.inspected(refusals.MALFORMED) from None


def _check_lengths(*lengths: int) -> None:
    if max(lengths) > MAX_FIELD_BYTES:
        raise refusals.inspected(refusals.MALFORMED)


def _check_file_kind(*, made_by: int, external: int) -> None:
    """A member made on Unix says its file kind in the external attributes' top bits: only a
    plain file or a folder; a symbolic link (which extractors follow to another name), a device
    or a pipe is refused."""
    kind = (external >> 16) & 0o170000
    if made_by >> 8 == _UNIX and kind not in (0, _REGULAR_FILE, _DIRECTORY):
        raise refusals.inspected(refusals.UNSAFE_NAMES)


def _check_extra(extra: bytes) -> None:
    position = 0
    while position < len(extra):
        if position + 4 > len(extra):
            raise refusals.inspected(refusals.MALFORMED)
        kind, length = struct.unpack_from("<HH", extra, position)
        position += 4 + length
        if position > len(extra):
            raise refusals.inspected(refusals.MALFORMED)
        if kind == _ZIP64_EXTRA:
            raise refusals.inspected(refusals.ZIP64)
        if kind in _ENCRYPTION_EXTRAS:
            raise refusals.inspected(refusals.ENCRYPTED)
        if kind not in _HARMLESS_EXTRAS:
            raise refusals.inspected(refusals.EXTRA_FIELD)


def _check_method(flags: int, method: int) -> None:
    if flags & _ENCRYPTED_FLAGS or method == _AES_METHOD:
        raise refusals.inspected(refusals.ENCRYPTED)
    if method not in (STORED, DEFLATED):
        raise refusals.inspected(refusals.UNKNOWN_COMPRESSION)
    if method == STORED and flags & _DESCRIPTOR_FLAG:
        raise refusals.inspected(refusals.STORED_WITH_DESCRIPTOR)


def _member_name(raw: bytes, flags: int) -> str:
    """The member's name, refused when a reader could put it outside the document's folder."""
    try:
        name = raw.decode("utf-8") if flags & _UTF8_FLAG else raw.decode("cp437")
    except UnicodeDecodeError:
        raise refusals.inspected(refusals.UNSAFE_NAMES) from None
    parts = name.split("/")
    if (
        not name
        or name.startswith("/")
        or "\\" in name
        or any(unicodedata.category(c)[0] == "C" for c in name)  # NUL and other controls
        or ":" in parts[0]  # a drive letter: C:/Windows
        or ".." in parts
    ):
        raise refusals.inspected(refusals.UNSAFE_NAMES)
    return name


def _compare(real: tuple[int, int, int], declared: tuple[int, int, int]) -> None:
    if real[1:] != declared[1:]:
        raise refusals.inspected(refusals.SIZE_MISMATCH)
    if real[0] != declared[0]:
        raise refusals.inspected(refusals.CRC_MISMATCH)
