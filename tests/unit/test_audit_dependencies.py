"""`make audit` (scripts/audit-dependencies.py) reads what pip-audit and npm audit say: a
service they could not reach is NOT AUDITED and passes (unless PORTAL_REQUIRE_AUDIT=1), a
known vulnerability or any other failure fails. The script runs for real; the two tools are
stand-ins that print what the real ones print in each case (no advisory service is reachable
from every machine the suite runs on, and none can be made to report a vulnerability)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "audit-dependencies.py"

PIP_CLEAN = (0, json.dumps({"dependencies": [{"name": "flask", "version": "3.1.0", "vulns": []}]}))
PIP_VULNERABLE = (
    1,
    json.dumps(
        {
            "dependencies": [
                {"name": "flask", "version": "3.1.0", "vulns": []},
                {"name": "jinja2", "version": "2.10", "vulns": [{"id": "PYSEC-2019-217"}]},
            ]
        }
    ),
)
# pip-audit's own words when PyPI does not answer (its ConnectionError and its tip).
PIP_UNREACHABLE = (
    1,
    "",
    "ERROR:pip_audit._cli:Could not connect to PyPI's vulnerability feed\n"
    "ERROR:pip_audit._cli:Tip: your network may be blocking this service.",
)
PIP_BROKEN = (1, "", "ERROR:pip_audit._cli:flask: hash mismatch in requirements/main.txt")
FIRST_PIN = re.search(
    r"^([A-Za-z0-9._-]+)==(\S+)", (ROOT / "requirements" / "main.txt").read_text(), re.MULTILINE
)
assert FIRST_PIN


def _not_found(name: str, version: str) -> tuple[int, str, str]:
    """Strict pip-audit's stop at a package its service answers 404 for."""
    reason = f"Dependency not found on PyPI and could not be audited: {name} ({version})"
    return 1, "", f"ERROR:pip_audit._cli:{name}: {reason}"


# A package mirror answers PyPI's JSON API with 404: the very first package is "not found".
PIP_MIRROR = _not_found(FIRST_PIN[1], FIRST_PIN[2])
PIP_GAP = _not_found("zipp", "3.99.0")  # a later package the service does not know
NPM_CLEAN = json.dumps({"metadata": {"vulnerabilities": {"high": 0, "total": 0}}})
NPM_VULNERABLE = json.dumps({"metadata": {"vulnerabilities": {"high": 2, "total": 2}}})
# What npm printed on a machine whose registry mirror refuses the advisory POST.
NPM_REFUSED = json.dumps(
    {"message": "405 Method Not Allowed - POST …/advisories/bulk", "statusCode": 405}
)
NPM_OFFLINE = json.dumps({"error": {"code": "ENOTFOUND", "summary": "getaddrinfo ENOTFOUND"}})
NPM_NO_LOCK = json.dumps({"error": {"code": "ENOLOCK", "summary": "audit needs a lockfile"}})


def run_audit(
    tmp_path: Path, pip: tuple[int, ...], npm: str, *, required: bool = False
) -> subprocess.CompletedProcess[str]:
    tools = tmp_path / "tools"
    (tools / "pip_audit").mkdir(parents=True)
    code, stdout, *stderr = (*pip, "")
    # A regular package (with __init__), so that it comes before the installed pip-audit.
    (tools / "pip_audit" / "__init__.py").write_text("")
    (tools / "pip_audit" / "__main__.py").write_text(
        "import pathlib, sys\n"
        f"pathlib.Path({str(tools / 'pip-audit-ran')!r}).touch()\n"
        f"sys.stdout.write({stdout!r})\n"
        f"sys.stderr.write({stderr[0]!r})\n"
        f"sys.exit({code})\n"
    )
    fake_npm = tools / "npm"
    fake_npm.write_text(f"#!/bin/sh\n[ \"$2\" = --json ] && printf '%s' '{npm}'\nexit 1\n")
    fake_npm.chmod(0o755)
    environment = {
        **os.environ,
        "PATH": f"{tools}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": str(tools),
        "PORTAL_REQUIRE_AUDIT": "1" if required else "0",
    }
    done = subprocess.run(  # noqa: S603 - the project's own script
        [sys.executable, str(SCRIPT)], env=environment, capture_output=True, text=True, check=False
    )
    assert (tools / "pip-audit-ran").exists(), "the stand-in, not the real pip-audit, must run"
    return done


def test_clean_dependencies_pass(tmp_path: Path) -> None:
    done = run_audit(tmp_path, PIP_CLEAN, NPM_CLEAN)
    assert done.returncode == 0, done.stdout
    assert "NOT AUDITED" not in done.stdout


@pytest.mark.parametrize(
    ("pip", "npm"),
    [(PIP_UNREACHABLE, NPM_REFUSED), (PIP_MIRROR, NPM_OFFLINE)],
    ids=["no-connection", "a-mirror-answers"],
)
def test_unreachable_services_are_not_audited_and_pass(
    tmp_path: Path, pip: tuple[int, ...], npm: str
) -> None:
    done = run_audit(tmp_path, pip, npm)
    assert done.returncode == 0, done.stdout
    assert "Python dependencies NOT AUDITED" in done.stdout
    assert "Node.js dependencies NOT AUDITED" in done.stdout


def test_unreachable_fails_when_an_audit_is_required(tmp_path: Path) -> None:
    done = run_audit(tmp_path, PIP_UNREACHABLE, NPM_REFUSED, required=True)
    assert done.returncode == 2 and "PORTAL_REQUIRE_AUDIT=1" in done.stdout


@pytest.mark.parametrize(
    ("pip", "npm", "named"),
    [
        (PIP_VULNERABLE, NPM_CLEAN, "jinja2 2.10: PYSEC-2019-217"),
        (PIP_CLEAN, NPM_VULNERABLE, "npm audit found {'high': 2}"),
        (PIP_BROKEN, NPM_CLEAN, "hash mismatch"),
        (PIP_GAP, NPM_CLEAN, "zipp (3.99.0)"),
        (PIP_CLEAN, NPM_NO_LOCK, "audit needs a lockfile"),
    ],
    ids=[
        "python-vulnerable",
        "node-vulnerable",
        "pip-audit-broken",
        "unknown-package",
        "npm-broken",
    ],
)
def test_vulnerabilities_and_other_failures_fail(
    tmp_path: Path, pip: tuple[int, ...], npm: str, named: str
) -> None:
    done = run_audit(tmp_path, pip, npm)
    assert done.returncode == 1, done.stdout
    assert named in done.stdout and "NOT AUDITED" not in done.stdout


def test_the_script_names_no_advisory_host() -> None:
    source = SCRIPT.read_text(encoding="utf-8")
    assert "://" not in source and ".org" not in source and ".dev" not in source
