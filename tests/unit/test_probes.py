"""The scanner check's test files (portal/attachments/probes.py) are what they claim to be:
the EICAR bytes where each says, in a readable Word document, past clamd's default limit."""

from __future__ import annotations

import io
import struct
import zipfile

from portal.attachments import probes

EICAR_PART = "word/media/image1.bin"
DEFAULT_CLAMD_MAX_FILE_SIZE = 100 * 1024 * 1024


def part(content: bytes, name: str = EICAR_PART) -> bytes:
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        assert archive.testzip() is None
        return archive.read(name)


def test_the_eicar_string_is_the_standard_one() -> None:
    assert len(probes.eicar()) == 68
    assert probes.eicar().startswith(b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-")


def test_each_probe_holds_the_eicar_bytes_where_it_says() -> None:
    assert probes.plain() == probes.eicar()
    assert part(probes.zipped(), "eicar.txt") == probes.eicar()
    for build in (probes.in_docx, probes.in_zip64_member):
        document = build()
        assert part(document) == probes.eicar()
        assert part(document, "[Content_Types].xml").startswith(b"<?xml")
        assert probes.eicar() not in document  # compressed: only an unpacker finds it


def test_the_zip64_probe_declares_its_sizes_in_zip64_records() -> None:
    document = probes.in_zip64_member()
    local_headers = [i for i in range(len(document)) if document.startswith(b"PK\x03\x04", i)]
    sizes = [struct.unpack_from("<II", document, offset + 18) for offset in local_headers]
    # The EICAR part's local header: compressed and uncompressed sizes in its zip64 extra.
    assert sizes[-1] == (0xFFFFFFFF, 0xFFFFFFFF)
    assert (0xFFFFFFFF, 0xFFFFFFFF) not in sizes[:-1]


def test_the_long_run_of_zeros_is_past_a_default_clamds_file_size_limit() -> None:
    document = probes.after_zeros()
    assert len(document) < 200 * 1024  # small to send, large unpacked
    with zipfile.ZipFile(io.BytesIO(document)) as archive:
        info = archive.getinfo(EICAR_PART)
        assert info.file_size == probes.LONG_RUN_OF_ZEROS + len(probes.eicar())
        assert info.file_size > DEFAULT_CLAMD_MAX_FILE_SIZE
        with archive.open(info) as member:
            member.seek(probes.LONG_RUN_OF_ZEROS)
            assert member.read() == probes.eicar()


def test_names_are_unique_and_only_the_zip64_probe_is_left_to_the_inspection() -> None:
    names = [probe.name for probe in probes.PROBES]
    assert len(set(names)) == len(names) == 5
    assert [p.name for p in probes.PROBES if not p.scanner_must_refuse] == ["zip64-member"]
