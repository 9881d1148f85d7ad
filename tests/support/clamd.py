"""Run a real ClamAV clamd for tests, with a signature database holding only the EICAR test
signature (no signature download is possible here, and none is needed).

Its limits and alerts are the ones the project ships, read from infra/clamav/clamd.conf (only
the paths, sockets and users are the test's own), so the tests scan with what production
runs. `Clamd(..., limits="default")` starts one with clamd's own default limits instead, which
`portal attachments check-scanner` must fail against.

`make test` installs Debian's clamav-daemon first. Without clamd the tests that need it are
skipped, unless CI=true, when they fail. The EICAR test string is assembled from parts, so no
file in the repository is itself a (test) virus that scanners would flag.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Literal

import pytest

from loopback.processes import free_port
from portal.attachments import scanning
from portal.attachments.probes import PROBES, eicar
from portal.attachments.scanner_check import ProbeResult, ScannerCheck, record
from portal.attachments.scanning import ClamdScanner, ScanVerdict
from portal.settings import AttachmentSettings

START_TIMEOUT_SECONDS = 60
SIGNATURE_NAME = "Portal.Test.Eicar"
SHIPPED_CONFIG = Path(__file__).resolve().parents[2] / "infra" / "clamav" / "clamd.conf"
# The shipped file's settings that say where and as whom clamd runs: the tests' own instead.
_DEPLOYMENT_SETTINGS = frozenset(
    {
        "LocalSocket",
        "LocalSocketGroup",
        "LocalSocketMode",
        "FixStaleSocket",
        "User",
        "TemporaryDirectory",
        "DatabaseDirectory",
        "LogFile",
        "Foreground",
        "MaxThreads",
    }
)
_SIZE_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3}

__all__ = [
    "SHIPPED_CONFIG",
    "SIGNATURE_NAME",
    "Clamd",
    "eicar",
    "limit_lines",
    "record_passing_check",
    "require_clamd",
    "shipped_settings",
    "size_in_bytes",
]


def shipped_settings() -> dict[str, str]:
    """infra/clamav/clamd.conf as setting name → value (comments and blank lines dropped)."""
    settings: dict[str, str] = {}
    for line in SHIPPED_CONFIG.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, value = line.partition(" ")
            settings[name] = value.strip()
    return settings


def size_in_bytes(value: str) -> int:
    """A clamd.conf size ("30M", "512K", "1048576") in bytes."""
    unit = value[-1:].upper() if value[-1:].isalpha() else ""
    return int(value.removesuffix(value[-1:]) if unit else value) * _SIZE_UNITS[unit]


def limit_lines() -> list[str]:
    """The shipped limits and alerts, as clamd.conf lines."""
    return [
        f"{name} {value}"
        for name, value in shipped_settings().items()
        if name not in _DEPLOYMENT_SETTINGS
    ]


def clamd_binary() -> str | None:
    return shutil.which("clamd") or next(
        (path for path in ("/usr/sbin/clamd", "/usr/local/sbin/clamd") if os.access(path, os.X_OK)),
        None,
    )


def _memory_directory() -> str | None:
    shm = Path("/dev/shm")
    return str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None


def require_clamd() -> str:
    binary = clamd_binary()
    if binary is None:
        message = "clamd is not installed (make test installs Debian's clamav-daemon)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message}; CI=true requires it", pytrace=False)
        pytest.skip(message)
    return binary


class Clamd:
    """clamd on a Unix socket in `directory` and on a loopback TCP port; a context manager.
    `limits`: the shipped file's limits and alerts, or clamd's own defaults (none given);
    `stream_max_length` replaces the StreamMaxLength either way."""

    def __init__(
        self,
        directory: Path,
        *,
        limits: Literal["shipped", "default"] = "shipped",
        stream_max_length: str | None = None,
    ) -> None:
        self.directory = directory
        self.socket_path = directory / "clamd.sock"
        self.tcp_port = free_port()
        self.limits = limits
        self.stream_max_length = stream_max_length
        self._process: subprocess.Popen[bytes] | None = None
        self._spool: Path | None = None

    def __enter__(self) -> Clamd:
        binary = require_clamd()
        database = self.directory / "db"
        database.mkdir(parents=True)
        # clamd spools each stream it scans to a file here: memory, as in production.
        self._spool = Path(tempfile.mkdtemp(prefix="clamd-", dir=_memory_directory()))
        # A body signature (.ndb): the EICAR bytes anywhere in the file, as hex.
        (database / "portal-test.ndb").write_text(
            f"{SIGNATURE_NAME}:0:*:{eicar().hex()}\n", encoding="ascii"
        )
        config = self.directory / "clamd.conf"
        config.write_text(
            "\n".join(
                [
                    f"LocalSocket {self.socket_path}",
                    f"TCPSocket {self.tcp_port}",
                    "TCPAddr 127.0.0.1",
                    f"DatabaseDirectory {database}",
                    f"TemporaryDirectory {self._spool}",
                    f"LogFile {self.directory / 'clamd.log'}",
                    "MaxThreads 4",
                    "Foreground yes",
                    *self._limit_lines(),
                    "",
                ]
            ),
            encoding="ascii",
        )
        self._process = subprocess.Popen(
            [binary, f"--config-file={config}"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self._wait_until_ready()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=5)
        if self._spool is not None:
            shutil.rmtree(self._spool, ignore_errors=True)

    def _limit_lines(self) -> list[str]:
        lines = limit_lines() if self.limits == "shipped" else []
        if self.stream_max_length is not None:
            lines = [line for line in lines if not line.startswith("StreamMaxLength ")]
            lines.append(f"StreamMaxLength {self.stream_max_length}")
        return lines

    def scanner(self, *, timeout: float = 30.0) -> ClamdScanner:
        return ClamdScanner(socket_path=self.socket_path, timeout=timeout)

    def _wait_until_ready(self) -> None:
        assert self._process is not None
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        probe = ClamdScanner(socket_path=self.socket_path, timeout=2)
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"clamd exited at start-up; see {self.directory / 'clamd.log'}")
            if probe.ping():
                return
            time.sleep(0.2)
        raise RuntimeError(f"clamd did not answer PING in {START_TIMEOUT_SECONDS} seconds")


def record_passing_check(clamd: Clamd, storage: Path) -> None:
    """The record `portal attachments check-scanner` leaves when every probe was refused by
    this clamd, without the seconds the run takes (readiness tests only read the record)."""
    found = ScanVerdict(clean=False, reason=scanning.INFECTED, signature=SIGNATURE_NAME)
    check = ScannerCheck(
        clamd.scanner().version(), tuple(ProbeResult(probe, None, found) for probe in PROBES)
    )
    assert check.passed
    record(check, AttachmentSettings(storage_directory=storage), datetime.now(UTC))
