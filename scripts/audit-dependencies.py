"""Audit the locked dependencies for known vulnerabilities: `make audit` (and `make test`).

Python: pip-audit over requirements/main.txt and requirements/dev.txt, in strict mode (a
package it cannot look up fails the audit), against PyPI's vulnerability data or, when that is
unreachable, OSV's. Node.js: `npm audit` over package-lock.json.

Both need an advisory service on the internet. When a machine cannot reach one (some build
machines only reach a package mirror), the audit says NOT AUDITED in capitals and passes,
because failing every build there would only teach people to ignore it; set
PORTAL_REQUIRE_AUDIT=1 (as release builds should) to make an unreachable service fail instead.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCKS = [ROOT / "requirements" / "main.txt", ROOT / "requirements" / "dev.txt"]
TIMEOUT = 15
_PIN = re.compile(r"^([A-Za-z0-9._-]+)==([^\s;\\]+)", re.MULTILINE)


def main() -> int:
    required = os.environ.get("PORTAL_REQUIRE_AUDIT") == "1"
    results = [audit_python(), audit_node()]
    failed = [name for name, outcome in results if outcome == "vulnerable"]
    unaudited = [name for name, outcome in results if outcome == "unreachable"]
    if failed:
        print(f"audit: known vulnerabilities in the {' and '.join(failed)} dependencies.")
        return 1
    if unaudited and required:
        print("audit: PORTAL_REQUIRE_AUDIT=1 and no advisory service was reachable.")
        return 2
    return 0


def audit_python() -> tuple[str, str]:
    name, version = _first_pin(LOCKS[0])
    services = {
        "pypi": f"https://pypi.org/pypi/{name}/{version}/json",
        "osv": "https://api.osv.dev/v1/vulns/PYSEC-2014-1",
    }
    for service, probe in services.items():
        if _reachable(probe):
            command = [sys.executable, "-m", "pip_audit", "--strict", "--progress-spinner=off"]
            command += ["--vulnerability-service", service, "--disable-pip", "--require-hashes"]
            for lock in LOCKS:
                command += ["-r", str(lock)]
            print(f"audit: pip-audit against {service} ...", flush=True)
            done = subprocess.run(command, cwd=ROOT, check=False)  # noqa: S603 - fixed argv
            return "Python", "clean" if done.returncode == 0 else "vulnerable"
    _not_audited("Python", "neither PyPI's per-release JSON API nor api.osv.dev answers")
    return "Python", "unreachable"


def audit_node() -> tuple[str, str]:
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit("audit: npm is not installed (the project needs Node.js 20+ with npm)")
    print("audit: npm audit ...", flush=True)
    done = subprocess.run(  # noqa: S603 - fixed argv
        [npm, "audit", "--json"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    try:
        report = json.loads(done.stdout)
    except ValueError:
        report = {"message": "npm audit printed no report"}
    counts = report.get("metadata", {}).get("vulnerabilities") if "metadata" in report else None
    if counts is None:
        # npm prints the advisory endpoint's failure (an HTTP error) instead of a report.
        why = report.get("message") or report.get("error", {}).get("summary") or "no report"
        _not_audited("Node.js", f"the npm advisory endpoint failed ({why})")
        return "Node.js", "unreachable"
    found = {level: count for level, count in counts.items() if level != "total" and count}
    if found:
        subprocess.run([npm, "audit"], cwd=ROOT, check=False)  # noqa: S603 - fixed argv
        return "Node.js", "vulnerable"
    print("audit: npm audit found no known vulnerabilities.")
    return "Node.js", "clean"


def _first_pin(lock: Path) -> tuple[str, str]:
    match = _PIN.search(lock.read_text(encoding="utf-8"))
    if match is None:
        raise SystemExit(f"audit: no pinned package in {lock}")
    return match.group(1), match.group(2)


def _reachable(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT) as response:  # noqa: S310 - fixed https URLs
            return bool(response.status == 200)
    except (urllib.error.URLError, TimeoutError, OSError):
        return False


def _not_audited(which: str, why: str) -> None:
    print(
        f"audit: {which} dependencies NOT AUDITED: {why}, from this machine. "
        "Run `make audit` where the internet is reachable (PORTAL_REQUIRE_AUDIT=1 makes this "
        "an error)."
    )


if __name__ == "__main__":
    sys.exit(main())
