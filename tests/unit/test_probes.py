"""The scanner check's test files (portal/attachments/probes.py, built with probe_zips.py) are
what they claim to be: valid ZIPs that the standard library reads back, with the EICAR bytes
where each says, past a default clamd's limits where they say so."""

from __future__ import annotations

import io
import struct
import zipfile

import pytest

from portal.attachments import probe_zips, probes

EICAR_PART = "word/media/image1.bin"
DEFAULT_CLAMD_MAX_FILE_SIZE = 100 * 1024 * 1024
DEFAULT_CLAMD_MAX_SCAN_SIZE = 400 * 1024 * 1024


def part(content: bytes, name: str = EICAR_PART, password: bytes | None = None) -> bytes:
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        return archive.read(name, pwd=password)


def test_the_eicar_string_is_the_standard_one() -> None:
    assert len(probes.eicar()) == 68
    assert probes.eicar().startswith(b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-")


def test_each_small_probe_holds_the_eicar_bytes_where_it_says() -> None:
    assert probes.plain() == probes.eicar()
    assert part(probes.zipped(), "eicar.txt") == probes.eicar()
    for build in (probes.in_docx, probes.in_zip64_member):
        document = build()
        with zipfile.ZipFile(io.BytesIO(document)) as archive:
            assert archive.testzip() is None
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
        assert archive.testzip() is None  # every part unpacks, and its CRC-32 matches
        info = archive.getinfo(EICAR_PART)
        assert info.file_size == probes.LONG_RUN_OF_ZEROS_MIB * 1024**2 + len(probes.eicar())
        assert DEFAULT_CLAMD_MAX_FILE_SIZE < info.file_size < DEFAULT_CLAMD_MAX_SCAN_SIZE
        with archive.open(info) as member:
            member.seek(info.file_size - len(probes.eicar()))
            assert member.read() == probes.eicar()


def test_the_zip_bomb_declares_a_gigabyte_in_a_megabyte() -> None:
    document = probes.zip_bomb()
    assert len(document) < 1100 * 1024
    with zipfile.ZipFile(io.BytesIO(document)) as archive:
        info = archive.getinfo(EICAR_PART)
        assert info.file_size == 1024**3 + len(probes.eicar())
        with archive.open(info) as member:  # the same writer as after-zeros: its start suffices
            assert member.read(1024**2) == bytes(1024**2)


def test_the_encrypted_part_opens_only_with_its_password() -> None:
    document = probes.encrypted_member()
    with zipfile.ZipFile(io.BytesIO(document)) as archive:
        assert archive.getinfo(EICAR_PART).flag_bits & 0x1
        assert archive.read("word/document.xml").startswith(b"<?xml")
    assert part(document, password=probes.PASSWORD) == probes.eicar()
    with pytest.raises(RuntimeError, match="Bad password"):
        part(document, password=b"not-the-password")


@pytest.mark.parametrize("size", [0, 1, 1000, 70_000])
def test_encryption_round_trips_any_content(size: int) -> None:
    content = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    secret = probe_zips.encrypted(probe_zips.deflated("a.bin", content), b"pw")
    assert part(probe_zips.zip_of([secret]), "a.bin", b"pw") == content


def test_names_are_unique_and_only_the_zip64_probe_is_left_to_the_inspection() -> None:
    names = [probe.name for probe in probes.PROBES]
    assert len(set(names)) == len(names) == 7
    assert [p.name for p in probes.PROBES if not p.scanner_must_refuse] == ["zip64-member"]
