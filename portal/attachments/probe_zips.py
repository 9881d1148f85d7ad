"""A small ZIP writer for the scanner check's test files (probes.py), for what the standard
library's `zipfile` cannot do quickly or at all: a part of a gigabyte of zeros, deflated in a
fraction of a second, and a part encrypted with the traditional ZIP password scheme
("ZipCrypto", which `zipfile` reads but does not write). Test files only: nothing the portal
stores is written with it.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

MIB = 1024 * 1024
_ZIP_VERSION = 20  # 2.0: deflate and traditional encryption
_DEFLATED = 8
_ENCRYPTED_FLAG = 0x1
_DOS_DATE = 0x21  # 1 January 1980, the earliest a ZIP can say
_ENCRYPTION_HEADER = 12


def _crc_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        value = byte
        for _ in range(8):
            value = (value >> 1) ^ 0xEDB88320 if value & 1 else value >> 1
        table.append(value)
    return tuple(table)


_CRC_TABLE = _crc_table()


@dataclass(frozen=True)
class Part:
    """A ZIP member: its raw deflate stream, CRC-32 and size unpacked."""

    name: str
    compressed: bytes
    crc: int
    size: int
    encrypted: bool = False


def deflated(name: str, content: bytes) -> Part:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    compressed = compressor.compress(content) + compressor.flush()
    return Part(name, compressed, zlib.crc32(content), len(content))


def zeros_then(name: str, mebibytes: int, tail: bytes) -> Part:
    """`mebibytes` MiB of zeros, then `tail`. After a full flush a compressor forgets what came
    before, so every MiB of zeros compresses to the same bytes: compressed once, repeated."""
    zeros = bytes(MIB)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
    crc = 0
    for _ in range(mebibytes):
        crc = zlib.crc32(zeros, crc)
    compressed = block * mebibytes + compressor.compress(tail) + compressor.flush()
    return Part(name, compressed, zlib.crc32(tail, crc), mebibytes * MIB + len(tail))


def encrypted(part: Part, password: bytes) -> Part:
    """The part encrypted with the traditional ZIP scheme (APPNOTE 6.1): a 12-byte header whose
    last byte is the CRC's top byte, then the deflate stream, each byte XORed with a key
    stream driven by the password and the plaintext."""
    keys = _Keys()
    for byte in password:
        keys.update(byte)
    plain = bytes(_ENCRYPTION_HEADER - 1) + bytes([part.crc >> 24]) + part.compressed
    cipher = bytearray(len(plain))
    for index, byte in enumerate(plain):
        cipher[index] = byte ^ keys.stream_byte()
        keys.update(byte)
    return Part(part.name, bytes(cipher), part.crc, part.size, encrypted=True)


class _Keys:
    def __init__(self) -> None:
        self.keys = [0x12345678, 0x23456789, 0x34567890]

    def update(self, byte: int) -> None:
        first, second, third = self.keys
        first = (first >> 8) ^ _CRC_TABLE[(first ^ byte) & 0xFF]
        second = ((second + (first & 0xFF)) * 134775813 + 1) & 0xFFFFFFFF
        third = (third >> 8) ^ _CRC_TABLE[(third ^ (second >> 24)) & 0xFF]
        self.keys = [first, second, third]

    def stream_byte(self) -> int:
        temporary = (self.keys[2] | 2) & 0xFFFF
        return ((temporary * (temporary ^ 1)) >> 8) & 0xFF


def zip_of(parts: list[Part]) -> bytes:
    """A ZIP archive of `parts`, each deflated, with a local header, its central directory
    record and the end record; no zip64 (every part here is under 4 GiB)."""
    body = bytearray()
    directory = bytearray()
    for part in parts:
        name = part.name.encode("utf-8")
        fields = (
            part.crc,
            len(part.compressed),
            part.size,
            len(name),
        )
        flags = _ENCRYPTED_FLAG if part.encrypted else 0
        common = (_ZIP_VERSION, flags, _DEFLATED, 0, _DOS_DATE)
        directory += struct.pack(
            "<IH5H3I5H2I", 0x02014B50, _ZIP_VERSION, *common, *fields, 0, 0, 0, 0, 0, len(body)
        )
        directory += name
        body += struct.pack("<I5H3I2H", 0x04034B50, *common, *fields, 0) + name
        body += part.compressed
    end = struct.pack(
        "<I4H2IH", 0x06054B50, 0, 0, len(parts), len(parts), len(directory), len(body), 0
    )
    return bytes(body + directory + end)
