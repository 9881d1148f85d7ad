"""What a file is, from its content: magic numbers, ZIP central directories, OLE2 directory
entries and whole-file UTF-8, whatever the file is called and however it is cut into pieces."""

from __future__ import annotations

import io
import os
import zipfile

import pytest

from portal.attachments import refusals, sniffing
from portal.attachments.sniffing import TypeSniffer, detect_type
from portal.settings import DEFAULT_ATTACHMENT_TYPES
from tests.support.ole2_files import ole2

PNG_HEAD = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"
JPEG_HEAD = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00"


def zip_file(members: list[tuple[str, bytes]], *, compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in members:
            archive.writestr(name, content, compress_type=compression)
    return buffer.getvalue()


def ooxml(folder: str, *, padding: int = 0, macros: bool = False) -> bytes:
    # Office writes [Content_Types].xml first, but the main part can come late: padding the
    # earlier members puts it far beyond any prefix a sniffer might read.
    members = [
        ("[Content_Types].xml", b"<Types/>"),
        ("_rels/.rels", b"<Relationships/>"),
        ("docProps/thumbnail.jpeg", os.urandom(padding)),
        (f"{folder}document.xml", b"<document/>"),
    ]
    if macros:
        members.append((f"{folder}vbaProject.bin", b"\xd0\xcf\x11\xe0"))
    return zip_file(members)


def odf(media_type: str, *, mimetype_compression: int = zipfile.ZIP_STORED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("mimetype", media_type, compress_type=mimetype_compression)
        archive.writestr("content.xml", "<office:document-content/>")
        archive.writestr("META-INF/manifest.xml", "<manifest:manifest/>")
    return buffer.getvalue()


def fed_in_pieces(data: bytes, sizes: list[int]) -> str | None:
    sniffer = TypeSniffer()
    position, index = 0, 0
    while position < len(data):
        size = sizes[index % len(sizes)]
        sniffer.feed(data[position : position + size])
        position += size
        index += 1
    return sniffer.media_type()


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", sniffing.PDF),
        (PNG_HEAD + os.urandom(200), sniffing.PNG),
        (JPEG_HEAD + os.urandom(200), sniffing.JPEG),
        ("Notes from the visit: Zoë was well.\r\n".encode(), sniffing.TEXT),
        (b"\xef\xbb\xbfText with a byte order mark\n", sniffing.TEXT),
    ],
    ids=["pdf", "png", "jpeg", "utf-8 text", "text with bom"],
)
def test_magic_numbers_and_text(content: bytes, expected: str) -> None:
    assert detect_type(content) == expected


@pytest.mark.parametrize(
    "content",
    [
        b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + bytes(200),  # Windows program
        b"\x7fELF\x02\x01\x01" + bytes(200),  # Linux program
        b"GIF89a" + bytes(20),  # an image, but one with NULs and not allowed
        b"text with a NUL\x00 in it",
        b"latin-1 caf\xe9 is not UTF-8",
        b"",
    ],
    ids=["exe", "elf", "gif", "nul", "latin-1", "empty"],
)
def test_unrecognised_content_has_no_type(content: bytes) -> None:
    assert detect_type(content) is None


def test_the_name_plays_no_part_a_program_called_report_pdf_is_still_a_program() -> None:
    # The sniffer never sees a name; the store passes it only to be sealed for display.
    program = b"MZ" + bytes(62) + b"This program cannot be run in DOS mode."
    assert detect_type(program) is None


def test_text_is_checked_to_the_end_not_just_the_first_kilobytes() -> None:
    assert detect_type(b"a" * 100_000 + b"\x00") is None
    assert detect_type(b"a" * 100_000 + b"\xff") is None
    assert detect_type(b"a" * 100_000 + "é".encode()[:1]) is None  # cut mid-character
    assert detect_type(b"a" * 100_000) == sniffing.TEXT


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (ooxml("word/"), sniffing.DOCX),
        (ooxml("xl/"), sniffing.XLSX),
        (ooxml("ppt/"), sniffing.PPTX),
        (ooxml("word/", macros=True), sniffing.DOCM),
        (ooxml("xl/", macros=True), sniffing.XLSM),
        (odf(sniffing.ODT), sniffing.ODT),
        (odf(sniffing.ODS), sniffing.ODS),
        (odf(sniffing.ODT, mimetype_compression=zipfile.ZIP_DEFLATED), sniffing.ZIP),
        (odf("application/x-made-up"), sniffing.ZIP),
        (zip_file([("word/document.xml", b"<w/>")]), sniffing.ZIP),  # no [Content_Types].xml
        (zip_file([("readme.txt", b"hello")]), sniffing.ZIP),
    ],
    ids=[
        "docx",
        "xlsx",
        "pptx",
        "docm",
        "xlsm",
        "odt",
        "ods",
        "odt-compressed-mimetype",
        "odf-unknown-kind",
        "no-content-types",
        "plain-zip",
    ],
)
def test_zip_based_documents_by_their_member_names(content: bytes, expected: str) -> None:
    assert detect_type(content) == expected


def test_the_main_part_is_found_in_the_central_directory_far_beyond_the_prefix() -> None:
    document = ooxml("word/", padding=3 * 1024 * 1024)
    assert document.find(b"word/") > sniffing.PREFIX_BYTES
    assert fed_in_pieces(document, [65536]) == sniffing.DOCX
    assert fed_in_pieces(document, [1, 7, 4096, 100_003]) == sniffing.DOCX


def test_a_zip_with_something_before_it_is_not_a_document() -> None:
    # A self-extracting program: the ZIP's members look like a document, the file is not one.
    assert detect_type(b"MZ" + bytes(100) + ooxml("word/")) is None
    assert detect_type(b"PK\x03\x04" + bytes(100) + ooxml("word/")) == sniffing.ZIP


def test_a_damaged_or_cut_zip_is_not_a_document() -> None:
    document = ooxml("word/")
    assert detect_type(document[: len(document) // 2]) == sniffing.ZIP
    assert detect_type(document[:-10]) == sniffing.ZIP


def test_word_97_files_by_their_worddocument_stream() -> None:
    assert detect_type(ole2("WordDocument")) == sniffing.DOC
    assert fed_in_pieces(ole2("WordDocument"), [3, 61, 128, 1000]) == sniffing.DOC
    assert detect_type(ole2("Workbook")) == sniffing.OLE2  # an Excel 97 file
    assert detect_type(ole2("WordDocument", aligned=False)) == sniffing.OLE2


def test_small_pieces_give_the_same_answer_as_one() -> None:
    for content in (b"%PDF-1.4\n", PNG_HEAD, ooxml("xl/"), odf(sniffing.ODT), b"plain\n"):
        assert fed_in_pieces(content, [1]) == detect_type(content)


def test_memory_stays_bounded_whatever_the_size() -> None:
    sniffer = TypeSniffer()
    for _ in range(400):  # 25 MiB of a ZIP's worth of data
        sniffer.feed(b"PK\x03\x04" + bytes(65532))
    assert len(sniffer._prefix) == sniffing.PREFIX_BYTES
    assert isinstance(sniffer._container, sniffing._ZipTail)
    assert len(sniffer._container._tail) <= 2 * sniffing.ZIP_TAIL_BYTES


def test_every_default_allowed_type_can_be_detected() -> None:
    samples = {
        sniffing.PDF: b"%PDF-1.7\n",
        sniffing.DOCX: ooxml("word/"),
        sniffing.DOC: ole2("WordDocument"),
        sniffing.ODT: odf(sniffing.ODT),
        sniffing.XLSX: ooxml("xl/"),
        sniffing.PNG: PNG_HEAD,
        sniffing.JPEG: JPEG_HEAD,
        sniffing.TEXT: b"text\n",
    }
    assert {detect_type(samples[kind]) for kind in DEFAULT_ATTACHMENT_TYPES} == set(
        DEFAULT_ATTACHMENT_TYPES
    )


def test_the_wrong_type_message_names_the_allowed_kinds() -> None:
    message = refusals.wrong_type(DEFAULT_ATTACHMENT_TYPES).message
    assert (
        message == "The selected file must be a PDF, Word document, spreadsheet, image or text file"
    )
    assert refusals.wrong_type([sniffing.PDF]).message == "The selected file must be a PDF"
    assert "type this service accepts" in refusals.wrong_type(["application/x-other"]).message


def test_size_limits_are_named_in_the_units_people_see() -> None:
    assert refusals.too_large(25 * 1024 * 1024).message == (
        "The selected file must be smaller than 25 MB"
    )
    assert refusals.size_text(512 * 1024) == "512 KB"
    assert refusals.size_text(1000) == "1000 bytes"
