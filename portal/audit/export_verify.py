"""Checking an export, one function for the page and for `portal audit verify-export`.

The evidence file is checked against its signed, witnessed tree head
(portal/audit/evidence_file.py): the head's signature, the TSA's token on it, and each event's
leaf recomputed from its fields and walked up its inclusion proof to the head's root, a line
at a time. In a ZIP, what people read is checked too: `events.csv` must be, byte for byte,
what the export writes for the events the evidence holds (rebuilt with the export's own code,
portal/audit/export_format.py), `checkpoint-key.pem` the key the head was checked with and the
key the evidence's header carries, and `README.txt` what the export writes for that head. The
verdict names every member that differs. Memory stays bounded: nothing is held whole
(portal/audit/evidence_archive.py), the rebuilt CSV is hashed as it is made.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any

from portal.audit.evidence_archive import (
    EvidenceUnreadable,
    evidence_lines,
    is_zip,
    looks_like_evidence,
    member_bytes,
    open_export,
    read_at_most,
)
from portal.audit.evidence_file import FORMAT, check_evidence
from portal.audit.export_format import (
    CSV_MEMBER,
    EVIDENCE_MEMBER,
    KEY_MEMBER,
    README_MEMBER,
    csv_cells,
    csv_writer,
    readme_facts,
    readme_text,
)
from portal.audit.signing import PublicKey, SigningKeyError

_CHUNK = 64 * 1024


@dataclass(frozen=True)
class ExportVerdict:
    intact: bool
    message: str  # what was found, or exactly what failed and where
    events: int = 0  # proven in the tree head
    tree_size: int | None = None
    key_id: str | None = None  # the key the tree head was checked with
    from_zip: bool = False
    key_was_supplied: bool = False  # checked with a trusted key, not the file's own copy
    differing: tuple[str, ...] = ()  # the ZIP's members that are not what the export wrote
    waiting: int = 0  # recorded after the tree head: listed, not yet provable
    stamped_at: datetime | None = None  # when the TSA saw the tree head (its token checked)
    tsa_was_supplied: bool = False  # the token checked with a trusted TSA root


class _CsvDigest:
    """The CSV the export would write for the verified events, hashed as it is written."""

    def __init__(self) -> None:
        self.digest, self.length = hashlib.sha256(), 0
        self.writer = csv_writer(self)

    def write(self, text: str) -> None:
        data = text.encode("utf-8")
        self.digest.update(data)
        self.length += len(data)

    def add(self, fields: dict[str, Any], leaf_index: int | None, leaf: bytes) -> None:
        self.writer.writerow(csv_cells(fields, leaf_index, leaf))


def verify_export(
    source: IO[bytes], trusted: Sequence[PublicKey] | None, tsa_roots: bytes | None = None
) -> ExportVerdict:
    """Check the export ZIP or bare evidence file in `source` (seekable, at its start).
    `trusted`: the keys to check the tree head with, chosen by the id the file names; None to
    use the file's own copy of the key (proves only that the file is self-consistent).
    `tsa_roots`: the TSA root certificates (PEM) to check the head's time-stamp with; None
    to use the file's own copy (self-consistent only, likewise)."""
    try:
        if is_zip(source):
            with open_export(source) as archive:
                return _verify_zip(archive, trusted, tsa_roots)
        if not looks_like_evidence(source):
            raise EvidenceUnreadable(
                f"This is neither an audit export ZIP nor a {FORMAT} evidence file."
            )
        verdict, _header, _csv = _verify_evidence(source, trusted, tsa_roots)
        return verdict
    except EvidenceUnreadable as error:
        return ExportVerdict(False, str(error), from_zip=is_zip_safely(source))


def is_zip_safely(source: IO[bytes]) -> bool:
    try:
        source.seek(0)
        return is_zip(source)
    except (OSError, ValueError):
        return False


def _verify_zip(
    archive: zipfile.ZipFile, trusted: Sequence[PublicKey] | None, tsa_roots: bytes | None
) -> ExportVerdict:
    with member_bytes(archive, EVIDENCE_MEMBER) as stream:
        verdict, header, rebuilt = _verify_evidence(stream, trusted, tsa_roots)
    if not verdict.intact or header is None:
        return _zipped(verdict)
    names = set(archive.namelist())
    key_pem, header_key_ok = _checked_key(verdict, trusted, header)
    expected = {KEY_MEMBER: key_pem.encode(), README_MEMBER: _readme(header, verdict).encode()}
    differing = [] if header_key_ok else [EVIDENCE_MEMBER]
    differing += [
        name
        for name in (CSV_MEMBER, README_MEMBER, KEY_MEMBER)
        if name not in names
        or not (
            _csv_matches(archive, rebuilt)
            if name == CSV_MEMBER
            else _member_is(archive, name, expected[name])
        )
    ]
    if not differing:
        return _zipped(
            verdict,
            message=f"{verdict.message} {CSV_MEMBER}, {README_MEMBER} and {KEY_MEMBER} are "
            "exactly what the export wrote for them.",
        )
    listed = _listed(differing)
    return _zipped(
        verdict,
        intact=False,
        differing=tuple(differing),
        message=f"The evidence file verifies ({verdict.message}) but {listed} "
        f"{'is' if len(differing) == 1 else 'are'} not what the export wrote for it: missing "
        "or changed.",
    )


def _verify_evidence(
    stream: IO[bytes], trusted: Sequence[PublicKey] | None, tsa_roots: bytes | None
) -> tuple[ExportVerdict, dict[str, Any] | None, _CsvDigest]:
    """The evidence checked, with its header and the CSV rebuilt from its events."""
    lines = evidence_lines(stream)
    first = next((line for line in lines if line.strip()), "")
    header = _header(first)
    rebuilt = _CsvDigest()
    key: PublicKey | None = None
    if trusted is not None:
        if not trusted:
            unkeyed = ExportVerdict(False, "There is no checkpoint key to check it with.")
            return unkeyed, None, rebuilt
        named = _named_key_id(header)
        key = next((key for key in trusted if key.key_id == named), None)
        if named is not None and key is None:
            return (
                ExportVerdict(
                    False,
                    f"The checkpoint names key {named}, which is not a checkpoint key it was "
                    "checked with: the file was not signed with the council’s key.",
                ),
                None,
                rebuilt,
            )
        key = key or trusted[0]
    report = check_evidence(itertools.chain([first], lines), key, rebuilt.add, tsa_roots)
    verdict = ExportVerdict(
        report.ok,
        report.message,
        report.events,
        report.tree_size,
        report.key_id,
        key_was_supplied=report.key_was_supplied,
        waiting=report.waiting,
        stamped_at=report.stamped_at,
        tsa_was_supplied=report.tsa_was_supplied,
    )
    return verdict, header, rebuilt


def _header(first: str) -> dict[str, Any] | None:
    try:
        value = json.loads(first)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _named_key_id(header: dict[str, Any] | None) -> str | None:
    """The key id the file's checkpoint names (what to look the trusted key up by; the
    signature check itself decides whether the file is right)."""
    try:
        key_id = header["checkpoint"]["key_id"]  # type: ignore[index]
    except (KeyError, TypeError):
        return None
    return key_id if isinstance(key_id, str) and len(key_id) <= 64 else None


def _checked_key(
    verdict: ExportVerdict, trusted: Sequence[PublicKey] | None, header: dict[str, Any]
) -> tuple[str, bool]:
    """The key the checkpoint was checked with, as the export writes it, and whether the
    evidence header's copy is that key too (the export writes the same key in both)."""
    log = header.get("log")
    own = str(log.get("public_key", "")) if isinstance(log, dict) else ""
    checked_with = next((key for key in trusted or () if key.key_id == verdict.key_id), None)
    if checked_with is None:  # checked with the header's own copy
        return own, True
    return checked_with.pem, _same_key(own, checked_with)


def _same_key(pem: str, key: PublicKey) -> bool:
    try:
        return PublicKey.from_pem(pem.encode("ascii")).key_id == key.key_id
    except (SigningKeyError, UnicodeEncodeError):
        return False


def _readme(header: dict[str, Any], verdict: ExportVerdict) -> str:
    """The README the export writes for this evidence; an empty one (so it differs) when
    the header's dates cannot be read."""
    try:
        facts = readme_facts(header, verdict.tree_size or 0, verdict.events, verdict.waiting)
    except (KeyError, TypeError, ValueError, AttributeError):
        return ""
    return readme_text(facts)


def _member_is(archive: zipfile.ZipFile, name: str, expected: bytes) -> bool:
    """Whether the member is exactly `expected` (one that is damaged, or inflates past the
    cap, is not)."""
    try:
        with member_bytes(archive, name) as stream:
            return read_at_most(stream, len(expected) + 1) == expected
    except EvidenceUnreadable:
        return False


def _csv_matches(archive: zipfile.ZipFile, rebuilt: _CsvDigest) -> bool:
    digest, length = hashlib.sha256(), 0
    try:
        with member_bytes(archive, CSV_MEMBER) as stream:
            for chunk in _chunks(stream, rebuilt.length + 1):
                digest.update(chunk)
                length += len(chunk)
    except EvidenceUnreadable:
        return False
    return length == rebuilt.length and digest.digest() == rebuilt.digest.digest()


def _chunks(stream: IO[bytes], limit: int) -> Iterator[bytes]:
    while limit > 0 and (chunk := read_at_most(stream, min(_CHUNK, limit))):
        limit -= len(chunk)
        yield chunk


def _zipped(verdict: ExportVerdict, **changes: Any) -> ExportVerdict:
    fields = {**verdict.__dict__, "from_zip": True, **changes}
    return ExportVerdict(**fields)


def _listed(members: list[str]) -> str:
    names = [f"{name}’s copy of the key" if name == EVIDENCE_MEMBER else name for name in members]
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
