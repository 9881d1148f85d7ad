"""Test files for `portal attachments check-scanner`, built on the fly from the EICAR test
string, which every anti-virus scanner reports as if it were a virus (docs/attachments.md,
"Scanning"). The string is assembled from parts, so no file in the repository is itself a
(test) virus that scanners would flag, and the files are made in memory, never written.

Each probe says what must refuse it: the portal's inspection, or the scanner as well. The
scanner is expected to refuse those it can be configured to catch (clamd with the limits in
infra/clamav/clamd.conf); the one it cannot is left to the inspection alone.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from dataclasses import dataclass

from portal.attachments.probe_zips import Part, deflated, encrypted, zeros_then, zip_of

# Past clamd's default MaxFileSize (100 MiB) and under its default MaxScanSize (400 MiB): clamd
# with its default limits skips the part without looking at the EICAR bytes at its end and
# answers OK, even with AlertExceedsMax (ClamAV 1.4.6; docs/attachments.md, "Scanning").
LONG_RUN_OF_ZEROS_MIB = 150
# Past any limit a scanner of uploads would have: it must say it stopped looking.
BOMB_MIB = 1024
# For the encrypted part; its secrecy is no part of the test.
PASSWORD = b"check-scanner"

_PART = "word/media/image1.bin"
_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/word/document.xml" ContentType="application/'
    'vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/>'
    "</Types>"
)
_DOCUMENT = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
    "<w:body><w:p><w:r><w:t>Scanner check</w:t></w:r></w:p></w:body></w:document>"
)


def eicar() -> bytes:
    """The industry-standard anti-virus test file's 68 bytes."""
    parts = [r"X5O!P%@AP[4\PZX54(P^)7CC)7}$", "EICAR-STANDARD-ANTIVIRUS", "-TEST-FILE!$H+H*"]
    return "".join(parts).encode("ascii")


@dataclass(frozen=True)
class Probe:
    """A test file: its name, what it is, and whether the scanner on its own must refuse it
    (when not, the portal's inspection must, and `why_not_the_scanner` says why)."""

    name: str
    description: str
    build: Callable[[], bytes]
    why_not_the_scanner: str | None = None

    @property
    def scanner_must_refuse(self) -> bool:
        return self.why_not_the_scanner is None


def plain() -> bytes:
    return eicar()


def zipped() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("eicar.txt", eicar())
    return buffer.getvalue()


def in_docx() -> bytes:
    """A minimal Word document with the EICAR bytes as one of its parts."""
    return zip_of([*_docx_parts(), deflated(_PART, eicar())])


def in_zip64_member() -> bytes:
    """A Word document whose EICAR part is written with zip64 headers (a few hundred bytes):
    the standard library's ZIP writer makes them."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as document:
        document.writestr("[Content_Types].xml", _CONTENT_TYPES)
        document.writestr("word/document.xml", _DOCUMENT)
        with document.open(_PART, "w", force_zip64=True) as member:
            member.write(eicar())
    return buffer.getvalue()


def after_zeros() -> bytes:
    """A Word document with one part of 150 MiB of zeros and then the EICAR bytes (150 KB)."""
    return zip_of([*_docx_parts(), zeros_then(_PART, LONG_RUN_OF_ZEROS_MIB, eicar())])


def zip_bomb() -> bytes:
    """A Word document with one part of 1 GiB of zeros and then the EICAR bytes (1 MB)."""
    return zip_of([*_docx_parts(), zeros_then(_PART, BOMB_MIB, eicar())])


def encrypted_member() -> bytes:
    """A Word document whose EICAR part is encrypted with a password."""
    return zip_of([*_docx_parts(), encrypted(deflated(_PART, eicar()), PASSWORD)])


def _docx_parts() -> list[Part]:
    return [
        deflated("[Content_Types].xml", _CONTENT_TYPES.encode()),
        deflated("word/document.xml", _DOCUMENT.encode()),
    ]


# ClamAV 1.4.6 answers OK for a deflated zip64 member whatever its settings (it does not read
# the zip64 sizes, so it cannot unpack the member); the portal refuses zip64 records itself.
_ZIP64_UNREADABLE = "ClamAV cannot read zip64 members, so the inspection must refuse them"

PROBES: tuple[Probe, ...] = (
    Probe("plain", "the EICAR test file itself", plain),
    Probe("zipped", "EICAR in a zip archive", zipped),
    Probe("docx-member", "EICAR as a part of a Word document", in_docx),
    Probe(
        "zip64-member",
        "EICAR in a Word document part with zip64 headers",
        in_zip64_member,
        _ZIP64_UNREADABLE,
    ),
    Probe("after-zeros", "EICAR after 150 MiB of zeros in a Word document part", after_zeros),
    Probe("zip-bomb", "EICAR after 1 GiB of zeros in a Word document part", zip_bomb),
    Probe("encrypted", "EICAR in a password-protected Word document part", encrypted_member),
)
