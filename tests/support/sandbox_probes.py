"""Probes for the converter's sandbox: small Python programs run confined exactly as the
converter is (portal.disarm.bubblewrap), or, to show what they would reach, unconfined."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from portal.disarm.bubblewrap import PACKAGE, sandbox_command
from portal.settings import DisarmSettings

PROBE = """
import json, os, socket, sys, time
from portal.disarm.isolation import SandboxUnavailable, enter_sandbox, network_interfaces
from portal.settings import DisarmSettings

settings = DisarmSettings(**json.loads(sys.argv[1]))
if sys.argv[2] == "sandboxed":
    try:
        enter_sandbox(settings, 0)
    except SandboxUnavailable:
        print("sandbox unavailable")
        sys.exit(0)
"""
# The environment the converter is given (portal.disarm.sandbox).
ENVIRONMENT = {
    "PATH": "/usr/bin:/bin",
    "LANG": "C.UTF-8",
    "PYTHONDONTWRITEBYTECODE": "1",
    "TMPDIR": "/tmp",  # noqa: S108
}


def probe_command(
    body: str,
    mode: str,
    *arguments: str,
    settings: dict[str, int] | None = None,
    directory: Path | None = None,
) -> list[str]:
    """`body` after PROBE, "sandboxed" (confined, its limits set) or "open" (neither)."""
    program = PROBE + textwrap.dedent(body)
    python = [sys.executable, "-c", program, json.dumps(settings or {}), mode, *arguments]
    if mode == "open":
        return python
    return sandbox_command(DisarmSettings(**(settings or {})), directory, python)


def run_probe(
    body: str,
    mode: str,
    *arguments: str,
    settings: dict[str, int] | None = None,
    directory: Path | None = None,
) -> str:
    """What the probe printed, after its exit code (bubblewrap's: 128 + a signal's number)."""
    ended = subprocess.run(  # noqa: S603
        probe_command(body, mode, *arguments, settings=settings, directory=directory),
        capture_output=True,
        text=True,
        timeout=60,
        env=ENVIRONMENT,
        check=False,
    )
    return f"{ended.returncode} {ended.stdout.strip()}"


def processes_with(marker: str) -> set[int]:
    """The processes whose command line holds `marker`."""
    found = set()
    for entry in Path("/proc").iterdir():
        try:
            if marker.encode() in (entry / "cmdline").read_bytes():
                found.add(int(entry.name))
        except OSError:  # not a process, or it has just gone
            continue
    return found


def project_root() -> Path:
    """The directory holding the `portal` package (and instance/ with keys and documents)."""
    return PACKAGE.parent
