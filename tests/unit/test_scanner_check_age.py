"""Readiness's record of the last `portal attachments check-scanner` run holds only for the
clamd engine it was run against, and only for `scanner_check_max_age_hours`: a clamd.conf
changed since shows in no version, so only a new run finds it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from portal.attachments.probes import PROBES
from portal.attachments.scanner_check import (
    ProbeResult,
    ScannerCheck,
    last_check_holds,
    record,
)
from portal.attachments.scanning import INFECTED, ScanVerdict
from portal.settings import AttachmentSettings

ENGINE = "ClamAV 1.4.6"
CHECKED = datetime(2026, 12, 6, 3, 0, tzinfo=UTC)


def passing_record(storage: Path, **limits: float) -> AttachmentSettings:
    settings = AttachmentSettings(storage_directory=storage, **limits)  # type: ignore[arg-type]
    found = ScanVerdict(clean=False, reason=INFECTED, signature="Portal.Test.Eicar")
    check = ScannerCheck(ENGINE, tuple(ProbeResult(probe, None, found) for probe in PROBES))
    record(check, settings, CHECKED)
    return settings


def test_a_passing_check_holds_for_a_day_by_default(tmp_path: Path) -> None:
    settings = passing_record(tmp_path)
    assert last_check_holds(settings, ENGINE, CHECKED + timedelta(hours=23, minutes=59))
    assert last_check_holds(settings, ENGINE, CHECKED + timedelta(hours=24))
    assert not last_check_holds(settings, ENGINE, CHECKED + timedelta(hours=24, seconds=1))
    assert not last_check_holds(settings, "ClamAV 1.5.0", CHECKED)  # another engine


def test_the_maximum_age_is_a_setting(tmp_path: Path) -> None:
    settings = passing_record(tmp_path, scanner_check_max_age_hours=1)
    assert last_check_holds(settings, ENGINE, CHECKED + timedelta(minutes=59))
    assert not last_check_holds(settings, ENGINE, CHECKED + timedelta(minutes=61))


def test_a_record_from_the_future_does_not_hold_forever(tmp_path: Path) -> None:
    settings = passing_record(tmp_path)
    assert not last_check_holds(settings, ENGINE, CHECKED - timedelta(days=30))
