"""A small ZIP writer that can be told to lie: a local header, the central directory or the
end record saying something the data does not, or bytes where none belong. For hostile test
files (tests/support/hostile_files.py); Python's zipfile only writes honest archives."""

from __future__ import annotations

import dataclasses
import struct
import zlib
from dataclasses import dataclass, field
from typing import Any

STORED, DEFLATED = 0, 8
UTF8 = 0x0800
DESCRIPTOR_FLAG = 0x0008


@dataclass(frozen=True)
class Header:
    """The fields a local header and its central directory entry share, and the offset."""

    name: bytes
    flags: int
    method: int
    crc: int
    compressed: int
    size: int
    extra: bytes
    offset: int = 0

    def local(self) -> bytes:
        fixed = struct.pack(
            "<HHHHHIIIHH", 20, self.flags, self.method, 0, 0x21, *self._sizes(),
            len(self.name), len(self.extra),
        )  # fmt: skip
        return b"PK\x03\x04" + fixed + self.name + self.extra

    def central(self) -> bytes:
        fixed = struct.pack(
            "<HHHHHHIIIHHHHHII", 20, 20, self.flags, self.method, 0, 0x21, *self._sizes(),
            len(self.name), len(self.extra), 0, 0, 0, 0, self.offset,
        )  # fmt: skip
        return b"PK\x01\x02" + fixed + self.name + self.extra

    def descriptor(self) -> bytes:
        return b"PK\x07\x08" + struct.pack("<III", *self._sizes())

    def _sizes(self) -> tuple[int, int, int]:
        return self.crc, self.compressed, self.size


@dataclass
class Part:
    """One member as written. `data` is what follows the local header (the content deflated
    unless given); `local`, `central` and `descriptor` override Header fields to make them lie."""

    name: str
    content: bytes = b""
    method: int = DEFLATED
    flags: int = 0
    extra: bytes = b""
    data: bytes | None = None
    crc: int | None = None
    size: int | None = None
    descriptor: dict[str, Any] | None = None  # a data descriptor after the data, lying if told
    local: dict[str, Any] = field(default_factory=dict)
    central: dict[str, Any] = field(default_factory=dict)

    def written(self) -> bytes:
        if self.data is not None:
            return self.data
        if self.method != DEFLATED:
            return self.content
        packer = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
        return packer.compress(self.content) + packer.flush()

    def header(self, offset: int) -> Header:
        name = self.name.encode()
        return Header(
            name=name,
            flags=self.flags | (0 if name.isascii() else UTF8),
            method=self.method,
            crc=zlib.crc32(self.content) if self.crc is None else self.crc,
            compressed=len(self.written()),
            size=len(self.content) if self.size is None else self.size,
            extra=self.extra,
            offset=offset,
        )


def build(
    parts: list[Part],
    *,
    before: bytes = b"",
    between: bytes = b"",
    after: bytes = b"",
    comment: bytes = b"",
    end: dict[str, int] | None = None,
    listed: list[int] | None = None,
    zip64_end: bool = False,
) -> bytes:
    """A ZIP of `parts`, byte by byte; the keywords put something where it must not be.
    `listed` names the parts the central directory lists, in its order (all, by default)."""
    out, entries = bytearray(before), []
    for part in parts:
        header = part.header(len(out) - len(before))
        out += dataclasses.replace(header, **part.local).local() + part.written()
        if part.descriptor is not None:
            out += dataclasses.replace(header, **part.descriptor).descriptor()
        out += between
        entries.append(dataclasses.replace(header, **part.central).central())
    directory = b"".join(entries[i] for i in (range(len(parts)) if listed is None else listed))
    start = len(out) - len(before)
    out += directory
    if zip64_end:
        out += b"PK\x06\x06" + struct.pack("<QHHIIQQQQ", 44, 45, 45, 0, 0, 1, 1, 0, start)
        out += b"PK\x06\x07" + struct.pack("<IQI", 0, len(out) - 56 - len(before), 1)
    count = len(parts) if listed is None else len(listed)
    record = {"disk": 0, "first": 0, "on_disk": count, "total": count}
    record |= {"size": len(directory), "offset": start, "comment": len(comment)}
    record |= end or {}
    out += b"PK\x05\x06" + struct.pack("<HHHHIIH", *record.values()) + comment
    return bytes(out + after)
