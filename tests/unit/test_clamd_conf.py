"""infra/clamav/clamd.conf, the clamd configuration the project ships, against the portal's
own bounds: clamd must look at least as far as the portal lets a document go, and must say so
when it could not look (docs/attachments.md, "Scanning"). Change one without the other and
this fails."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from portal.settings import AttachmentSettings
from tests.support.clamd import SHIPPED_CONFIG, limit_lines, shipped_settings, size_in_bytes

PRODUCTION_EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "production.example.toml"
DEFAULTS = AttachmentSettings()


def size(name: str) -> int:
    return size_in_bytes(shipped_settings()[name])


def test_clamd_reads_whole_every_upload_the_portal_accepts() -> None:
    assert size("StreamMaxLength") >= DEFAULTS.max_bytes


def test_clamd_unpacks_at_least_as_far_as_the_portal_lets_a_document_go() -> None:
    assert size("MaxFileSize") >= DEFAULTS.max_member_bytes
    assert size("MaxScanSize") >= DEFAULTS.max_total_uncompressed_bytes
    assert int(shipped_settings()["MaxFiles"]) >= DEFAULTS.max_members


def test_no_part_can_be_skipped_without_an_alert() -> None:
    # clamd 1.4 skips a part over MaxFileSize silently, even with AlertExceedsMax; crossing
    # MaxScanSize does raise the alert. With MaxFileSize >= MaxScanSize, one always comes first.
    assert size("MaxFileSize") >= size("MaxScanSize")


def test_clamd_gives_up_and_says_so_before_the_portal_stops_waiting() -> None:
    assert int(shipped_settings()["MaxScanTime"]) < DEFAULTS.scan_timeout_seconds * 1000


@pytest.mark.parametrize(
    "alert",
    [
        "AlertExceedsMax",
        "AlertEncrypted",
        "AlertEncryptedArchive",
        "AlertEncryptedDoc",
        "AlertOLE2Macros",
        "ScanArchive",
        "HeuristicAlerts",
    ],
)
def test_limits_encrypted_content_and_macros_raise_alerts(alert: str) -> None:
    assert shipped_settings()[alert] == "yes"


def test_its_socket_is_where_the_production_example_looks() -> None:
    example = tomllib.loads(PRODUCTION_EXAMPLE.read_text(encoding="utf-8"))
    assert shipped_settings()["LocalSocket"] == example["attachments"]["clamd_socket"]


def test_the_tests_clamd_runs_every_limit_and_alert_the_file_ships() -> None:
    lines = limit_lines()
    for name in ("StreamMaxLength", "MaxFileSize", "MaxScanSize", "AlertExceedsMax"):
        assert f"{name} {shipped_settings()[name]}" in lines
    assert not any(line.startswith(("LocalSocket ", "User ", "LogFile ")) for line in lines)
    assert SHIPPED_CONFIG.read_text(encoding="utf-8").count("\nMaxFileSize ") == 1


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("30M", 30 * 1024**2),
        ("512K", 512 * 1024),
        ("1G", 1024**3),
        ("4096", 4096),
        ("2m", 2 * 1024**2),
    ],
)
def test_clamd_sizes_are_read_as_clamd_reads_them(value: str, expected: int) -> None:
    assert size_in_bytes(value) == expected
