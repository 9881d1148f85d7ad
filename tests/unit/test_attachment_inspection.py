"""The inspection on its own: each bound where it is set, bombs stopped early in bounded memory,
the same answer whatever the piece sizes, other files untouched, a message for every reason."""

from __future__ import annotations

import io
import random
import struct
import tracemalloc
import zipfile

import pytest
from pydantic import ValidationError

from portal.attachments import refusals
from portal.attachments.inspection import ContainerInspector, MemberContent, inspect_chunks
from portal.attachments.refusals import INSPECTION_MESSAGES, UploadRefused
from portal.attachments.zip_walk import PIECE, RATIO_FROM, ZipWalk
from portal.config import ConfigError, load_settings
from portal.settings import AttachmentSettings
from tests.support.hostile_files import (
    HOSTILE,
    MIB,
    PDF,
    bomb,
    office_parts,
    real_docx,
    real_odt,
    real_xlsx,
    repeated,
    smuggled_docx,
)
from tests.support.zip_writer import DEFLATED, DESCRIPTOR_FLAG, STORED, Part, build

SETTINGS = AttachmentSettings()


def reason(data: bytes, settings: AttachmentSettings = SETTINGS, piece: int = 64 * 1024) -> str:
    try:
        inspect_chunks((data[i : i + piece] for i in range(0, len(data), piece)), settings)
    except UploadRefused as refused:
        return refused.reason
    return "accepted"


# Fed a byte at a time too, so not the bombs and large members (named by their MiB or GiB).
SMALL = {name: entry for name, entry in HOSTILE.items() if "MiB" not in name and "GiB" not in name}


@pytest.mark.parametrize("name", list(SMALL))
def test_the_same_reason_whatever_the_piece_sizes(name: str) -> None:
    build_it, expected = SMALL[name]
    data = build_it()
    assert {reason(data, piece=size) for size in (1, 7, 500, len(data) or 1)} == {expected}


def unseekable_zip(members: dict[str, bytes]) -> bytes:
    """Written as a stream: every member deflated with a data descriptor after it."""

    class Sink(io.RawIOBase):
        def __init__(self) -> None:
            self.data = bytearray()

        def writable(self) -> bool:
            return True

        def write(self, chunk: bytes) -> int:  # type: ignore[override]
            self.data += chunk
            return len(chunk)

    sink = Sink()
    with zipfile.ZipFile(sink, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            with archive.open(name, "w") as member:
                member.write(content)
    return bytes(sink.data)


def test_documents_as_office_suites_write_them_pass() -> None:
    streamed = unseekable_zip({"[Content_Types].xml": b"<Types/>", "word/document.xml": b"<d/>"})
    assert b"PK\x07\x08" in streamed  # data descriptors, as LibreOffice writes them
    for document in (real_docx(), real_xlsx(), real_odt(), streamed):
        assert reason(document, piece=1) == reason(document) == "accepted"


@pytest.mark.parametrize(
    "content",
    [
        b"%PDF-1.7\n" + random.Random(1).randbytes(100_000) + b"PK\x05\x06 inside\n%%EOF\n",
        b"Plain text that mentions PK\x03\x04 later on\n",
        b"\x89PNG\r\n\x1a\n" + bytes(100),
        b"PK",  # too short to be anything
        b"",
    ],
)
def test_other_files_pass_through_untouched(content: bytes) -> None:
    inspector = ContainerInspector(SETTINGS)
    inspector.feed(content)
    inspector.verdict()


def test_an_empty_zip_passes_the_inspection_and_is_left_to_the_type_check() -> None:
    assert reason(build([])) == "accepted"


@pytest.mark.parametrize(("mebibytes", "size"), [(1024, 1_100_000), (200, 220_000)])
def test_a_bomb_stops_a_little_past_one_mebibyte_in_bounded_memory(
    mebibytes: int, size: int
) -> None:
    data = bomb(mebibytes)
    assert len(data) < size  # the 1 GiB in about 1 MB, 200 MiB in about 200 KB
    counted = Counted()
    walk = ZipWalk(SETTINGS, counted)
    tracemalloc.start()
    try:
        for start in range(0, len(data), 64 * 1024):
            walk.feed(data[start : start + 64 * 1024])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    with pytest.raises(UploadRefused) as refused:
        walk.finish()
    assert refused.value.reason == refusals.COMPRESSION_RATIO
    assert RATIO_FROM < counted.unpacked <= RATIO_FROM + 2 * PIECE
    assert peak < 1024 * 1024  # pieces of 64 KiB, never the member


class Counted(MemberContent):
    """The inspection's own member checks, counting the decompressed bytes they are shown."""

    def __init__(self) -> None:
        super().__init__()
        self.unpacked = 0

    def data(self, piece: bytes) -> None:
        self.unpacked += len(piece)
        super().data(piece)


def custom(**limits: int) -> AttachmentSettings:
    return AttachmentSettings(**limits)  # type: ignore[arg-type]


def member_of(size: int) -> bytes:
    content = random.Random(size).randbytes(size)
    return build([*office_parts(), Part("word/media/blob.bin", content)])


def test_each_size_bound_where_it_is_set() -> None:
    data = member_of(100 * 1024)
    assert reason(data, custom(max_member_bytes=100 * 1024)) == "accepted"
    assert reason(data, custom(max_member_bytes=100 * 1024 - 1)) == refusals.MEMBER_TOO_LARGE
    total = 100 * 1024 + len(b"".join(p.content for p in office_parts()))
    assert reason(data, custom(max_total_uncompressed_bytes=total)) == "accepted"
    assert (
        reason(data, custom(max_total_uncompressed_bytes=total - 1)) == refusals.UNPACKED_TOO_LARGE
    )


def test_the_member_count_bound() -> None:
    data = build(office_parts())
    assert reason(data, custom(max_members=3)) == "accepted"
    assert reason(data, custom(max_members=2)) == refusals.TOO_MANY_MEMBERS


def test_the_ratio_counts_only_once_a_member_passes_one_mebibyte() -> None:
    under = build([*office_parts(), Part("word/media/zeros.bin", bytes(RATIO_FROM - 1))])
    assert reason(under) == "accepted"  # compresses a thousand times, but is small
    over = build([*office_parts(), repeated(bytes(MIB), 2, name="word/media/zeros.bin")])
    assert reason(over) == refusals.COMPRESSION_RATIO
    assert reason(over, custom(max_compression_ratio=10_000)) == "accepted"


def test_a_refused_file_costs_nothing_more_after_its_refusal() -> None:
    counted = Counted()
    walk = ZipWalk(SETTINGS, counted)
    walk.feed(HOSTILE["encrypted member"][0]())
    walk.feed(bomb(64))  # ignored: the answer is already known
    assert counted.unpacked < 2000
    with pytest.raises(UploadRefused):
        walk.finish()


def test_every_reason_has_a_plain_message_that_survives_the_redirect() -> None:
    reasons = {expected for _build, expected in HOSTILE.values()}
    assert reasons | {refusals.MALFORMED} == set(INSPECTION_MESSAGES)
    for code, message in INSPECTION_MESSAGES.items():
        assert refusals.message_for(code, 1024, ["application/pdf"]) == message
        assert message.startswith("The selected file ") and not message.endswith(".")
        jargon = ("zip64", "crc", "ole", "deflate", "directory", "vba", "member", "archive.")
        assert not any(word in message.lower() for word in jargon), message


def test_legacy_office_types_cannot_be_allowed() -> None:
    with pytest.raises(ValidationError, match="legacy Word and Excel files are always refused"):
        AttachmentSettings(allowed_types=["application/pdf", "application/msword"])
    with pytest.raises(ConfigError, match=r"\[attachments\] allowed_types is invalid"):
        load_settings(
            {"PORTAL_ENV": "test"},
            overrides={"attachments": {"allowed_types": ["application/vnd.ms-excel"]}},
        )


def test_an_honest_data_descriptor_after_a_deflated_member_passes() -> None:
    zeros = {"crc": 0, "compressed": 0, "size": 0}
    part = Part("word/x.xml", b"<x/>" * 100, flags=DESCRIPTOR_FLAG, local=zeros, descriptor={})
    assert reason(build([*office_parts(), part]), piece=3) == "accepted"


@pytest.mark.parametrize(
    "head",
    [
        b"PK\x03\x04",
        b"PK\x05\x06",
        b"\x1f\x8b\x08\x00",
        b"BZh91AY&SY",
        b"BZh9\x17rE8P\x90",
        b"\xfd7zXZ\x00",
        b"7z\xbc\xaf\x27\x1c",
        b"Rar!\x1a\x07\x01\x00",
        b"MSCF\x00\x00\x00\x00",
        b"\x28\xb5\x2f\xfd",
    ],
)
def test_every_archive_inside_is_refused(head: bytes) -> None:
    for method in (STORED, DEFLATED):
        inside = Part("word/media/thing.bin", head + bytes(40), method=method)
        assert reason(build([*office_parts(), inside])) == refusals.NESTED_ARCHIVE
    # The same bytes later in a member are only content.
    later = Part("word/media/thing.bin", b"<x>" + head + b"</x>")
    assert reason(build([*office_parts(), later])) == "accepted"


def test_what_zipfile_reads_in_a_smuggling_file_is_what_the_inspection_refuses() -> None:
    hidden = "word/embeddings/oleObject1.bin"
    assert hidden in zipfile.ZipFile(io.BytesIO(smuggled_docx())).namelist()
    assert reason(smuggled_docx()) == refusals.EXTRA_DATA
    for after in (b"", b"\n", b"%%EOF\n" * 100, random.Random(5).randbytes(60_000)):
        polyglot = PDF + real_docx() + after
        assert zipfile.ZipFile(io.BytesIO(polyglot)).namelist()  # zipfile opens every one
        assert reason(polyglot) == reason(polyglot, piece=1000) == refusals.EXTRA_DATA


def test_a_zip_end_record_with_no_directory_before_it_is_only_content() -> None:
    record = b"PK\x05\x06" + struct.pack("<HHHHIIH", 0, 0, 1, 1, 46, 0, 0)
    assert reason(PDF + record + b"\n%%EOF\n") == "accepted"  # 46 bytes of PDF before it
    with pytest.raises(zipfile.BadZipFile):
        zipfile.ZipFile(io.BytesIO(PDF + record))


def test_a_polyglot_whose_end_record_gives_any_offset_is_refused() -> None:
    # zipfile reads the directory just before the end record and takes the offset only to
    # find where the archive starts: a record saying 10 MB, or 0, still opens.
    docx = real_docx()
    for offset in (0, 10_000_000):
        record = docx[-22:-6] + struct.pack("<IH", offset, 0)
        polyglot = PDF + docx[:-22] + record + b"\n"
        assert zipfile.ZipFile(io.BytesIO(polyglot)).namelist()
        assert reason(polyglot) == refusals.EXTRA_DATA


@pytest.mark.parametrize(
    "extra",
    [
        struct.pack("<HH", 0x000A, 32) + bytes(32),  # NTFS times (7-Zip, Windows)
        struct.pack("<HHBI", 0x5455, 5, 1, 1_700_000_000),  # Info-ZIP extended timestamp
        struct.pack("<HHBBIBI", 0x7875, 11, 1, 4, 1000, 4, 1000),  # Info-ZIP Unix uid/gid
        struct.pack("<HH", 0xA220, 4) + bytes(4),  # Microsoft's packaging growth hint
        struct.pack("<HHH", 0xD935, 2, 4),  # Android zipalign padding
    ],
)
def test_harmless_extra_fields_are_accepted(extra: bytes) -> None:
    part = Part("word/media/x.bin", b"x", extra=extra)
    assert reason(build([*office_parts(), part]), piece=3) == "accepted"
