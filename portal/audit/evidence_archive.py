"""Reading what an IG officer hands back to be checked: the export ZIP the evidence page gave
(portal/audit/export.py), or the bare evidence file taken out of it.

The ZIP is read in memory, never extracted: only the members an export holds are accepted (so
no path in it is ever used), each within a size, and only `evidence.jsonl` is decompressed,
a bounded number of bytes, so a small file that inflates to gigabytes is refused, not read.
"""

from __future__ import annotations

import io
import zipfile
import zlib
from dataclasses import dataclass

from portal.audit.evidence_file import FORMAT

EVIDENCE_MEMBER = "evidence.jsonl"
EXPORT_MEMBERS = frozenset({"events.csv", EVIDENCE_MEMBER, "checkpoint-key.pem", "README.txt"})
# Far past any export the portal makes for a case or a month; the web page caps uploads lower.
MAX_EVIDENCE_BYTES = 256 * 1024 * 1024
_ZIP_MAGIC = b"PK\x03\x04"


class EvidenceUnreadable(ValueError):
    """Not an export ZIP or an evidence file that can be read; the message says why."""


@dataclass(frozen=True)
class EvidenceText:
    lines: list[str]
    from_zip: bool


def read_evidence(data: bytes, max_bytes: int = MAX_EVIDENCE_BYTES) -> EvidenceText:
    """The evidence file's lines, from an export ZIP or from the bare evidence file."""
    if data.startswith(_ZIP_MAGIC):
        return EvidenceText(_lines(_evidence_member(data, max_bytes)), from_zip=True)
    if data.lstrip()[:1] != b"{":
        raise EvidenceUnreadable(
            f"This is neither an audit export ZIP nor a {FORMAT} evidence file."
        )
    if len(data) > max_bytes:
        raise EvidenceUnreadable("The evidence file is larger than any export the portal makes.")
    return EvidenceText(_lines(data), from_zip=False)


def _evidence_member(data: bytes, max_bytes: int) -> bytes:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError):
        raise EvidenceUnreadable("The ZIP is damaged: it cannot be opened.") from None
    with archive:
        infos = archive.infolist()
        names = [info.filename for info in infos]
        unexpected = sorted(set(names) - EXPORT_MEMBERS)
        if unexpected:
            raise EvidenceUnreadable(
                f"The ZIP holds files an audit export never holds: {', '.join(unexpected[:5])}."
            )
        if len(names) != len(set(names)):
            raise EvidenceUnreadable("The ZIP holds two files with the same name.")
        if EVIDENCE_MEMBER not in names:
            raise EvidenceUnreadable(f"The ZIP has no {EVIDENCE_MEMBER}: it was removed.")
        info = archive.getinfo(EVIDENCE_MEMBER)
        if info.file_size > max_bytes:
            raise EvidenceUnreadable(f"{EVIDENCE_MEMBER} is larger than any export makes.")
        try:
            with archive.open(info) as member:
                content = member.read(max_bytes + 1)
        except (
            zipfile.BadZipFile,
            zlib.error,
            OSError,
            EOFError,
            RuntimeError,
            NotImplementedError,
        ):
            raise EvidenceUnreadable(
                f"{EVIDENCE_MEMBER} in the ZIP is damaged: it cannot be read."
            ) from None
    if len(content) > max_bytes:
        raise EvidenceUnreadable(f"{EVIDENCE_MEMBER} is larger than any export makes.")
    return content


def _lines(content: bytes) -> list[str]:
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        raise EvidenceUnreadable("The evidence file is not text (UTF-8).") from None
    return text.splitlines()
