"""What `portal attachments check-scanner` does: every test file in probes.py through the
portal's inspection and, on its own, through the configured scanner; and the record of the
last run, which readiness reports (docs/attachments.md, "Scanning").

A probe passes when something refuses it, and when the scanner on its own refuses it if the
probe says the scanner must. The scanner refuses a probe by finding it ("infected") or by
saying it could not look at all of it ("scanner_limit", "scanner_encrypted": clamd's
AlertExceedsMax or AlertEncrypted alerts); a scanner that does not answer, or answers nonsense,
fails the check.
"""

from __future__ import annotations

import json
import os
import re
import socket
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from portal.attachments import scanning
from portal.attachments.inspection import inspect_chunks
from portal.attachments.probes import PROBES, Probe
from portal.attachments.refusals import UploadRefused
from portal.attachments.scanning import ClamdScanner, ScanVerdict
from portal.settings import AttachmentSettings

_REFUSING_REASONS = frozenset(
    {scanning.INFECTED, scanning.SCANNER_LIMIT, scanning.SCANNER_ENCRYPTED}
)
_PIECE = 64 * 1024


@dataclass(frozen=True)
class ProbeResult:
    probe: Probe
    inspection_refusal: str | None  # the refusal's reason code; None when inspection took it
    scan: ScanVerdict

    @property
    def scanner_refused(self) -> bool:
        return self.scan.reason in _REFUSING_REASONS

    @property
    def problem(self) -> str | None:
        """Why this probe fails the check; None when it passes."""
        if self.scan.reason not in _REFUSING_REASONS | {scanning.CLEAN}:
            return f"the scanner gave no verdict ({self.scan.reason})"
        if self.probe.scanner_must_refuse and not self.scanner_refused:
            return "the scanner accepted it"
        if not self.scanner_refused and self.inspection_refusal is None:
            return f"the inspection accepted it, and {self.probe.why_not_the_scanner}"
        return None


@dataclass(frozen=True)
class ScannerCheck:
    scanner_version: str | None
    results: tuple[ProbeResult, ...]

    @property
    def passed(self) -> bool:
        """The scanner answered, every probe was tried, and none failed."""
        tried = tuple(result.probe for result in self.results)
        return (
            self.scanner_version is not None
            and tried == PROBES
            and all(result.problem is None for result in self.results)
        )


def check_scanner(
    settings: AttachmentSettings,
    scanner: ClamdScanner,
    on_probe: Callable[[Probe], None] = lambda _probe: None,
) -> ScannerCheck:
    """Every probe through the inspection and the scanner; `on_probe` is told as each starts."""
    version = scanner.version()
    if version is None:
        return ScannerCheck(None, ())
    results = []
    for probe in PROBES:
        on_probe(probe)
        content = probe.build()
        results.append(
            ProbeResult(
                probe, _inspection_refusal(content, settings), scanner.scan(_pieces(content))
            )
        )
    return ScannerCheck(version, tuple(results))


def _inspection_refusal(content: bytes, settings: AttachmentSettings) -> str | None:
    try:
        inspect_chunks(_pieces(content), settings)
    except UploadRefused as refused:
        return refused.reason
    return None


def _pieces(content: bytes) -> list[bytes]:
    return [content[start : start + _PIECE] for start in range(0, len(content), _PIECE)]


def record_path(settings: AttachmentSettings) -> Path:
    """In the attachment store, which every web instance can write, one per host: each web
    host has its own clamd (docs/operations.md), checked on that host."""
    host = re.sub(r"[^A-Za-z0-9.-]", "_", socket.gethostname())
    return settings.storage_directory / f"scanner-check-{host}.json"


def record(check: ScannerCheck, settings: AttachmentSettings, now: datetime) -> None:
    """Write the run's outcome for readiness, replacing the last one whole (never half)."""
    body = {
        "passed": check.passed,
        "scanner_version": check.scanner_version,
        "checked_at": now.astimezone(UTC).isoformat(),
        "failed": [r.probe.name for r in check.results if r.problem is not None],
    }
    path = record_path(settings)
    descriptor, partial = tempfile.mkstemp(prefix=".scanner-check-", dir=path.parent)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            json.dump(body, file)
        os.replace(partial, path)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise


def last_check_holds(
    settings: AttachmentSettings, scanner_version: str | None, now: datetime
) -> bool:
    """Whether the last recorded check passed against the clamd engine answering now (an
    upgraded clamd has not been checked until the command runs again), within
    `scanner_check_max_age_hours` of `now` (a changed clamd.conf shows in no version: only a
    new run finds it)."""
    try:
        body = json.loads(record_path(settings).read_text(encoding="utf-8"))
        checked_at = datetime.fromisoformat(body["checked_at"])
    except (OSError, ValueError, TypeError, KeyError):
        return False
    max_age = timedelta(hours=settings.scanner_check_max_age_hours)
    return (
        body.get("passed") is True
        and scanner_version is not None
        and body.get("scanner_version") == scanner_version
        and checked_at.tzinfo is not None
        and now - max_age <= checked_at <= now + timedelta(minutes=5)  # a little clock skew
    )
