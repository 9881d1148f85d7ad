"""OLE2 compound files built in code: Word and Excel 97-2003 files and the objects OOXML
embeds (tests/support/hostile_files.py puts them where the inspection must find them)."""

from __future__ import annotations

import struct


def ole2(stream_name: str, *, aligned: bool = True) -> bytes:
    """A small but well-formed OLE2 compound file: FAT, one directory sector, one stream."""
    end, free, fat_sector = 0xFFFFFFFE, 0xFFFFFFFF, 0xFFFFFFFD
    header = b"".join(
        [
            b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",
            bytes(16),
            struct.pack("<HHHHH", 0x3E, 3, 0xFFFE, 9, 6),
            bytes(6),
            struct.pack("<IIIIIIIII", 0, 1, 1, 0, 4096, end, 0, end, 0),
            struct.pack("<I", 0) + struct.pack("<I", free) * 108,
        ]
    )
    data_sectors = 8  # 4096 bytes: a regular stream, not in the mini stream
    chain = [fat_sector, end] + [3 + i for i in range(data_sectors - 1)] + [end]
    fat = struct.pack(f"<{len(chain)}I", *chain) + struct.pack("<I", free) * (128 - len(chain))

    def entry(name: str, kind: int, child: int, start: int, size: int) -> bytes:
        encoded = (name + "\x00").encode("utf-16-le")
        return b"".join(
            [
                encoded.ljust(64, b"\x00"),
                struct.pack("<HBB", len(encoded), kind, 1),
                struct.pack("<III", free, free, child),
                bytes(16 + 4 + 16),
                struct.pack("<IQ", start, size),
            ]
        )

    directory = entry("Root Entry", 5, 1, end, 0) + entry(stream_name, 2, free, 2, 4096)
    directory += bytes(512 - len(directory))
    if not aligned:  # the name shifted inside the sector, where no entry can start
        directory = b"\x00" * 8 + directory[:-8]
    stream = b"\xec\xa5\xc1\x00" + bytes(4096 - 4)
    return header + fat + directory + stream
