"""Hostile documents, built in code at test time: nothing hostile is committed as a file.

An office-like skeleton to put in the lying ZIP writer of tests/support/zip_writer.py, bombs
made in a moment, legacy Office files (built by tests/support/ole2_files.py), and `HOSTILE`:
each hostile file with the reason code the portal must refuse it with. The EICAR string comes
from tests/support/clamd.py, assembled from parts.
"""

from __future__ import annotations

import functools
import io
import random
import struct
import zipfile
import zlib
from collections.abc import Callable

from portal.attachments import refusals
from tests.support.clamd import eicar
from tests.support.ole2_files import ole2
from tests.support.zip_writer import DEFLATED, DESCRIPTOR_FLAG, STORED, Part, build

MIB = 1024 * 1024

CONTENT_TYPES = (
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    b'<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    b'<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
    b'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
    b'<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-'
    b'officedocument.wordprocessingml.document.main+xml"/></Types>'
)
RELS = (
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    b'<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    b'<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
    b'relationships/officeDocument" Target="word/document.xml"/></Relationships>'
)
DOCUMENT = (
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    b'<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
    b"<w:body><w:p><w:r><w:t>Attendance this term: 92%</w:t></w:r></w:p></w:body></w:document>"
)


def docx(*more: Part) -> bytes:
    """A small Word document as Word lays it out, with `more` members after its own."""
    return build([*office_parts(), *more])


def office_parts() -> list[Part]:
    return [
        Part("[Content_Types].xml", CONTENT_TYPES),
        Part("_rels/.rels", RELS),
        Part("word/document.xml", DOCUMENT),
    ]


def zipped(members: dict[str, bytes]) -> bytes:
    """A ZIP as Python's zipfile writes it: what an office suite's output looks like."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            kind = zipfile.ZIP_STORED if name == "mimetype" else zipfile.ZIP_DEFLATED
            archive.writestr(name, content, compress_type=kind)
    return buffer.getvalue()


def symbolic_link_docx() -> bytes:
    """A Word document with a member made on Unix as a symbolic link to another name."""
    buffer = io.BytesIO(real_docx())
    with zipfile.ZipFile(buffer, "a") as archive:
        link = zipfile.ZipInfo("word/media/image1.png")
        link.create_system = 3
        link.external_attr = 0o120777 << 16
        archive.writestr(link, b"../../../../etc/passwd")
    return buffer.getvalue()


def real_docx() -> bytes:
    members = {"[Content_Types].xml": CONTENT_TYPES, "_rels/.rels": RELS}
    members |= {"word/document.xml": DOCUMENT, "docProps/app.xml": b"<Properties/>"}
    return zipped(members)


def real_xlsx() -> bytes:
    types = CONTENT_TYPES.replace(b"/word/document.xml", b"/xl/workbook.xml")
    members = {"[Content_Types].xml": types, "_rels/.rels": RELS.replace(b"word/", b"xl/")}
    sheet = b"<worksheet>" + b"<row/>" * 5000 + b"</worksheet>"
    members |= {"xl/workbook.xml": b"<workbook/>", "xl/worksheets/sheet1.xml": sheet}
    return zipped(members)


def real_odt() -> bytes:
    members = {"mimetype": b"application/vnd.oasis.opendocument.text"}
    members |= {"content.xml": b"<office:document-content/>", "styles.xml": b"<styles/>"}
    members |= {"Configurations2/": b"", "META-INF/manifest.xml": b"<manifest:manifest/>"}
    return zipped(members)


# --- Bombs: long runs made cheaply --------------------------------------------------------------


@functools.cache
def repeated(block: bytes, times: int, tail: bytes = b"", name: str = "word/document.xml") -> Part:
    """A member of `block` repeated `times` then `tail`, deflated in a moment: each block is
    compressed after a full flush, so every copy of it compresses to the same bytes."""
    packer = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    first = packer.compress(block) + packer.flush(zlib.Z_FULL_FLUSH)
    again = packer.compress(block) + packer.flush(zlib.Z_FULL_FLUSH)
    assert first == again, "a block compresses the same way after a full flush"
    crc = 0
    for _ in range(times):
        crc = zlib.crc32(block, crc)
    data = first * times + packer.compress(tail) + packer.flush()
    size = len(block) * times + len(tail)
    return Part(name, data=data, crc=zlib.crc32(tail, crc), size=size)


def bomb(mebibytes: int, tail: bytes = b"") -> bytes:
    """A .docx-shaped bomb: its document part is `mebibytes` MiB of zeros (then `tail`)."""
    return build([*office_parts()[:2], repeated(bytes(MIB), mebibytes, tail)])


def poorly_compressible_block() -> bytes:
    """1 MiB that deflates about 20 times: under any ratio bound, so only sizes stop it."""
    return random.Random(18).randbytes(50 * 1024) + bytes(MIB - 50 * 1024)


def large_members(*mebibytes: int) -> bytes:
    """Members of this many MiB each that compress about 20 times: a few megabytes in all."""
    block = poorly_compressible_block()
    parts = [
        repeated(block, size, name=f"word/media/part{i}.bin") for i, size in enumerate(mebibytes)
    ]
    return build([*office_parts(), *parts])


# --- The catalogue ------------------------------------------------------------------------------

EICAR_TXT = "word/media/notes.txt"
ZIP64_EXTRA = struct.pack("<HHQQ", 0x0001, 16, 68, 68)
AES_EXTRA = struct.pack("<HHH2sBH", 0x9901, 7, 2, b"AE", 3, DEFLATED)
FULL = 0xFFFFFFFF
ZEROS = {"crc": 0, "compressed": 0, "size": 0}  # a local header whose data descriptor follows
VBA_TYPE = b'<Default Extension="bin" ContentType="application/vnd.ms-office.vbaProject"/></Types>'
ODT = b"application/vnd.oasis.opendocument.text"


def _zip64_eicar() -> bytes:
    """The issue's 1 KB .docx: its EICAR member written with zip64 headers."""
    sizes = {"compressed": FULL, "size": FULL}
    member = Part(EICAR_TXT, eicar(), method=STORED, extra=ZIP64_EXTRA, local=sizes, central=sizes)
    return build([*office_parts(), member], zip64_end=True)


def _overlapping() -> bytes:
    """Two directory entries for one local header: the overlapping-files bomb's trick."""
    return build(office_parts(), listed=[0, 1, 2, 2])


def smuggled_docx() -> bytes:
    """A clean document whose end record's comment holds a second archive: its directory lists
    the real members and an OLE2 object hidden in the comment, and zipfile, which takes the last
    end record it finds, reads that one (the review of issue 18, finding 1)."""
    real = build(office_parts())
    size, offset = struct.unpack("<II", real[-10:-2])
    hidden = Part("word/embeddings/oleObject1.bin", ole2("Ole10Native"), method=STORED)
    header = hidden.header(len(real))  # the comment starts where the clean file ended
    local = header.local() + hidden.written()
    directory = real[offset : offset + size] + header.central()
    count = len(office_parts()) + 1
    fields = (0, 0, count, count, len(directory), len(real) + len(local), 0)
    second_end = b"PK\x05\x06" + struct.pack("<HHHHIIH", *fields)
    return build(office_parts(), comment=local + directory + second_end)


def info_zip_extra(kind: int, text: bytes, checked: bytes = b"word/media/x.bin") -> bytes:
    """Info-ZIP's Unicode path (0x7075) or comment (0x6375) extra field: version 1, the CRC-32
    of the name (or comment) it replaces, then the text readers honouring it use instead."""
    body = struct.pack("<BI", 1, zlib.crc32(checked)) + text
    return struct.pack("<HH", kind, len(body)) + body


PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def _lying(where: str, **fields: int | bytes) -> bytes:
    part = Part("word/document.xml", DOCUMENT)
    (part.local if where == "local" else part.central).update(fields)
    return build([*office_parts()[:2], part])


Builder = Callable[[], bytes]
# name: (how to build it, the reason code it is refused with). Bombs are built when used.
HOSTILE: dict[str, tuple[Builder, str]] = {
    "zip64 EICAR member (the issue's 1 KB .docx)": (_zip64_eicar, refusals.ZIP64),
    "EICAR after 150 MiB of zeros in one member": (
        lambda: bomb(150, eicar()),
        refusals.COMPRESSION_RATIO,
    ),
    "1 GiB member in about 1 MB": (lambda: bomb(1024), refusals.COMPRESSION_RATIO),
    "200 MiB member in about 200 KB": (lambda: bomb(200), refusals.COMPRESSION_RATIO),
    "a member of 101 MiB that compresses 20 times": (
        lambda: large_members(101),
        refusals.MEMBER_TOO_LARGE,
    ),
    "members of 210 MiB in all": (lambda: large_members(70, 70, 70), refusals.UNPACKED_TOO_LARGE),
    "zip64 end record only": (lambda: build(office_parts(), zip64_end=True), refusals.ZIP64),
    "encrypted member": (lambda: docx(Part("word/x.xml", b"<x/>", flags=1)), refusals.ENCRYPTED),
    "strong encryption flag": (
        lambda: docx(Part("word/x.xml", b"<x/>", flags=0x40)),
        refusals.ENCRYPTED,
    ),
    "AES member": (
        lambda: docx(Part("word/x.xml", b"<x/>", method=99, extra=AES_EXTRA, data=b"\0" * 20)),
        refusals.ENCRYPTED,
    ),
    "zip inside": (
        lambda: docx(Part("word/embeddings/a.zip", zipped({"a.txt": b"a"}))),
        refusals.NESTED_ARCHIVE,
    ),
    "docx inside docx": (
        lambda: docx(Part("word/embeddings/Microsoft_Word_Document.docx", real_docx())),
        refusals.NESTED_ARCHIVE,
    ),
    "stored zip inside": (
        lambda: docx(Part("word/media/image2.png", zipped({"a": b"a"}), method=STORED)),
        refusals.NESTED_ARCHIVE,
    ),
    "gzip inside": (
        lambda: docx(Part("word/media/a.bin", b"\x1f\x8b\x08\x00" + bytes(20))),
        refusals.NESTED_ARCHIVE,
    ),
    "7z inside": (
        lambda: docx(Part("word/media/a.bin", b"7z\xbc\xaf\x27\x1c" + bytes(30))),
        refusals.NESTED_ARCHIVE,
    ),
    "OLE2 object embedded": (
        lambda: docx(Part("word/embeddings/oleObject1.bin", ole2("Ole10Native"))),
        refusals.EMBEDDED_OBJECT,
    ),
    "vbaProject.bin": (
        lambda: docx(Part("word/vbaProject.bin", ole2("VBA"))),
        refusals.MACROS,
    ),
    "VBA part renamed, named by its content type": (
        lambda: build(
            [
                Part("[Content_Types].xml", CONTENT_TYPES.replace(b"</Types>", VBA_TYPE)),
                *office_parts()[1:],
            ]
        ),
        refusals.MACROS,
    ),
    "OpenDocument Basic macros": (
        lambda: zipped({"mimetype": ODT, "Basic/Standard/Module1.xml": b"<module/>"}),
        refusals.MACROS,
    ),
    "too many members": (
        lambda: docx(*(Part(f"word/p{i}.xml", b"<p/>") for i in range(1000))),
        refusals.TOO_MANY_MEMBERS,
    ),
    "central directory lies about a size": (
        lambda: _lying("central", size=len(DOCUMENT) + 1),
        refusals.DIRECTORY_MISMATCH,
    ),
    "central directory lies about a name": (
        lambda: _lying("central", name=b"word/documenT.xml"),
        refusals.DIRECTORY_MISMATCH,
    ),
    "central directory lies about the method": (
        lambda: _lying("central", method=STORED),
        refusals.DIRECTORY_MISMATCH,
    ),
    "end record lies about the count": (
        lambda: build(office_parts(), end={"on_disk": 2, "total": 2}),
        refusals.DIRECTORY_MISMATCH,
    ),
    "end record lies about the directory's offset": (
        lambda: build(office_parts(), end={"offset": 0}),
        refusals.DIRECTORY_MISMATCH,
    ),
    "a member missing from the central directory": (
        lambda: build(office_parts(), listed=[0, 1]),
        refusals.DIRECTORY_MISMATCH,
    ),
    "central directory in another order": (
        lambda: build(office_parts(), listed=[1, 0, 2]),
        refusals.DIRECTORY_MISMATCH,
    ),
    "overlapping members": (_overlapping, refusals.DIRECTORY_MISMATCH),
    "local header lies about the size": (
        lambda: _lying("local", size=10 * MIB),
        refusals.SIZE_MISMATCH,
    ),
    "local header lies about the compressed size": (
        lambda: _lying("local", compressed=3),
        refusals.SIZE_MISMATCH,
    ),
    "bad CRC": (lambda: _lying("local", crc=0x12345678), refusals.CRC_MISMATCH),
    "prepended data": (
        lambda: build(office_parts(), before=b"MZ" + bytes(200)),
        refusals.EXTRA_DATA,
    ),
    "trailing data": (lambda: build(office_parts(), after=b"\0" * 100), refusals.EXTRA_DATA),
    "data between members": (lambda: build(office_parts(), between=b"hidden"), refusals.EXTRA_DATA),
    "JPEG with a ZIP after it": (
        lambda: b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(100) + real_docx(),
        refusals.EXTRA_DATA,
    ),
    "stored member with a data descriptor": (
        lambda: docx(Part("word/x.xml", b"<x/>", method=STORED, flags=DESCRIPTOR_FLAG)),
        refusals.STORED_WITH_DESCRIPTOR,
    ),
    "unknown compression method": (
        lambda: docx(Part("word/x.xml", b"<x/>", method=14, data=b"LZMA" * 5)),
        refusals.UNKNOWN_COMPRESSION,
    ),
    "duplicate names": (
        lambda: docx(Part("word/document.xml", b"<evil/>")),
        refusals.DUPLICATE_NAMES,
    ),
    "names differing only in case": (
        lambda: docx(Part("WORD/Document.xml", b"<evil/>")),
        refusals.DUPLICATE_NAMES,
    ),
    "path traversal": (lambda: docx(Part("../../evil.xml", b"<x/>")), refusals.UNSAFE_NAMES),
    "absolute name": (lambda: docx(Part("/etc/cron.d/x", b"<x/>")), refusals.UNSAFE_NAMES),
    "backslash name": (lambda: docx(Part("word\\..\\x.xml", b"<x/>")), refusals.UNSAFE_NAMES),
    "NUL in a name": (lambda: docx(Part("word/x.xml\0.exe", b"<x/>")), refusals.UNSAFE_NAMES),
    "data descriptor lies about the CRC": (
        lambda: docx(
            Part("word/x.xml", b"<x/>", flags=DESCRIPTOR_FLAG, local=ZEROS, descriptor={"crc": 1})
        ),
        refusals.CRC_MISMATCH,
    ),
    "data descriptor lies about the size": (
        lambda: docx(
            Part("word/x.xml", b"<x/>", flags=DESCRIPTOR_FLAG, local=ZEROS, descriptor={"size": 3})
        ),
        refusals.SIZE_MISMATCH,
    ),
    "zip64 only in the central directory": (
        lambda: docx(Part("word/x.xml", b"<x/>", central={"extra": ZIP64_EXTRA})),
        refusals.ZIP64,
    ),
    "drive letter in a name": (lambda: docx(Part("C:/x.xml", b"<x/>")), refusals.UNSAFE_NAMES),
    "a symbolic link member": (symbolic_link_docx, refusals.UNSAFE_NAMES),
    "a name that is not the UTF-8 it claims": (
        lambda: docx(Part("word/x.xml", b"<x/>", flags=0x0800, local={"name": b"word/\xff.xml"})),
        refusals.UNSAFE_NAMES,
    ),
    "OpenDocument scripts": (
        lambda: zipped({"mimetype": ODT, "Scripts/python/run.py": b"import os"}),
        refusals.MACROS,
    ),
    "an unreadable extra field": (
        lambda: docx(Part("word/x.xml", b"<x/>", extra=b"\x01\x00\xff")),
        refusals.MALFORMED,
    ),
    "comment running past the end": (
        lambda: build(office_parts(), end={"comment": 500}),
        refusals.EXTRA_DATA,
    ),
    "an archive hidden in the end record's comment": (smuggled_docx, refusals.EXTRA_DATA),
    "PDF with a ZIP after it": (lambda: PDF + real_docx(), refusals.EXTRA_DATA),
    "PDF with a ZIP and a line break after it": (
        lambda: PDF + real_docx() + b"\n",
        refusals.EXTRA_DATA,
    ),
    "Unicode path extra field naming ../": (
        lambda: docx(Part("word/media/x.bin", b"x", extra=info_zip_extra(0x7075, b"../../x"))),
        refusals.EXTRA_FIELD,
    ),
    "Unicode comment extra field": (
        lambda: docx(Part("word/media/x.bin", b"x", extra=info_zip_extra(0x6375, b"hidden"))),
        refusals.EXTRA_FIELD,
    ),
    "an extra field of an unknown kind": (
        lambda: docx(Part("word/x.xml", b"<x/>", central={"extra": b"\x66\x66\x00\x00"})),
        refusals.EXTRA_FIELD,
    ),
    "a name over 1 KiB": (lambda: docx(Part("word/" + "a" * 1100, b"<x/>")), refusals.MALFORMED),
    "harmless extra fields over 1 KiB": (
        lambda: docx(Part("word/x.xml", b"<x/>", extra=struct.pack("<HH", 0x5455, 0) * 257)),
        refusals.MALFORMED,
    ),
    "cut short": (lambda: real_docx()[:-40], refusals.MALFORMED),
    "corrupt deflate data": (
        lambda: docx(Part("word/x.xml", b"<x/>", data=b"\xff" * 30)),
        refusals.MALFORMED,
    ),
    "Word 97-2003 document (.doc)": (lambda: ole2("WordDocument"), refusals.LEGACY_OFFICE),
    "Excel 97-2003 workbook (.xls)": (lambda: ole2("Workbook"), refusals.LEGACY_OFFICE),
}
