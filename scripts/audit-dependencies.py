"""Audit the locked dependencies for known vulnerabilities: `make audit` (and `make test`).

Python: pip-audit over requirements/main.txt and requirements/dev.txt, in strict mode (a
package it cannot look up fails the audit), against its default vulnerability service.
Node.js: `npm audit` over package-lock.json, against the registry's advisory endpoint. Each
tool is asked as it comes, and its own report or failure is read: this script names no host.

Both need an advisory service on the internet. When a tool says it could not reach its
service (some build machines only reach a package mirror, which may refuse the advisory
requests), the audit says NOT AUDITED in capitals and passes, because failing every build there
would only teach people to ignore it; set PORTAL_REQUIRE_AUDIT=1 (as release builds should) to
make that fail instead. Known vulnerabilities, and any other failure, always fail.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
LOCKS = [ROOT / "requirements" / "main.txt", ROOT / "requirements" / "dev.txt"]
CLEAN, VULNERABLE, UNREACHABLE, FAILED = "clean", "vulnerable", "unreachable", "failed"

# How pip-audit (and the requests and urllib3 beneath it) say the service did not answer:
# no connection, a timeout, a proxy or TLS failure, or an HTTP error from the service.
_PIP_AUDIT_UNREACHABLE = re.compile(
    r"Could not connect|ConnectionError|ConnectTimeout|ReadTimeout|Max retries exceeded"
    r"|NameResolutionError|Failed to resolve|ProxyError|SSLError|ServiceError|HTTPError"
    r"|network may be blocking|Temporary failure in name resolution"
)
_NOT_FOUND = re.compile(r"not found on PyPI and could not be audited: (\S+) \(([^)]+)\)")
_PIN = re.compile(r"^([A-Za-z0-9._-]+)==([^\s;\\]+)", re.MULTILINE)
# npm's codes for a network it could not use; an HTTP answer from the advisory endpoint
# itself (a mirror refusing the POST, an outage) comes as a `statusCode` instead.
_NPM_UNREACHABLE = {
    "EAI_AGAIN",
    "ECONNREFUSED",
    "ECONNRESET",
    "ENETUNREACH",
    "ENOTFOUND",
    "ETIMEDOUT",
    "EPROTO",
    "ERR_SOCKET_TIMEOUT",
    "SELF_SIGNED_CERT_IN_CHAIN",
    "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
}


def main() -> int:
    required = os.environ.get("PORTAL_REQUIRE_AUDIT") == "1"
    outcomes = {"Python": audit_python(), "Node.js": audit_node()}
    failed = [name for name, outcome in outcomes.items() if outcome in (VULNERABLE, FAILED)]
    unaudited = [name for name, outcome in outcomes.items() if outcome == UNREACHABLE]
    if failed:
        print(f"audit: the {' and '.join(failed)} dependencies failed the audit.")
        return 1
    if unaudited and required:
        print("audit: PORTAL_REQUIRE_AUDIT=1 and no advisory service was reachable.")
        return 2
    return 0


def audit_python() -> str:
    command = [sys.executable, "-m", "pip_audit", "--strict", "--progress-spinner=off"]
    command += ["--disable-pip", "--require-hashes", "--format=json"]
    for lock in LOCKS:
        command += ["-r", str(lock)]
    print("audit: pip-audit ...", flush=True)
    done = subprocess.run(  # noqa: S603 - fixed argv
        command, cwd=ROOT, capture_output=True, text=True, check=False
    )
    outcome, lines = python_outcome(done.returncode, done.stdout, done.stderr)
    if outcome == UNREACHABLE:
        _not_audited("Python", f"pip-audit's vulnerability service did not answer ({lines[0]})")
    else:
        for line in lines:
            print(f"audit: {line}")
    return outcome


def python_outcome(returncode: int, stdout: str, stderr: str) -> tuple[str, list[str]]:
    """What pip-audit's run says, and the lines worth showing: the vulnerable packages, or
    the last of its error output."""
    report = _json(stdout)
    dependencies = report.get("dependencies") if isinstance(report, dict) else None
    if isinstance(dependencies, list):
        found = [
            f"{dependency.get('name')} {dependency.get('version')}: "
            + ", ".join(str(vuln.get("id")) for vuln in dependency["vulns"])
            for dependency in dependencies
            if isinstance(dependency, dict) and dependency.get("vulns")
        ]
        if found:
            return VULNERABLE, found
        if returncode == 0:
            return CLEAN, ["pip-audit found no known vulnerabilities."]
    unreachable = next(
        (line for line in stderr.splitlines() if _PIP_AUDIT_UNREACHABLE.search(line)), None
    )
    if returncode != 0 and unreachable:
        return UNREACHABLE, [unreachable.removeprefix("ERROR:pip_audit._cli:")]
    if returncode != 0 and _first_not_found(stderr):
        return UNREACHABLE, ["it knows not even the first package in the locks"]
    return FAILED, ["pip-audit failed:", *stderr.strip().splitlines()[-5:]]


def _first_not_found(stderr: str) -> bool:
    """Strict pip-audit stops at the first package its service does not know. If that is the
    locks' very first package, nothing was looked up at all: what answered is not PyPI's
    vulnerability data (a package mirror answers its JSON API with 404). A later package
    unknown to it is a real gap in the audit, and fails."""
    unknown = _NOT_FOUND.search(stderr)
    first = _PIN.search(LOCKS[0].read_text(encoding="utf-8"))
    if unknown is None or first is None:
        return False
    return (_canonical(unknown[1]), unknown[2]) == (_canonical(first[1]), first[2])


def audit_node() -> str:
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit("audit: npm is not installed (the project needs Node.js 20+ with npm)")
    print("audit: npm audit ...", flush=True)
    done = subprocess.run(  # noqa: S603 - fixed argv
        [npm, "audit", "--json"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    outcome, lines = node_outcome(done.stdout)
    if outcome == UNREACHABLE:
        _not_audited("Node.js", f"npm audit could not use the advisory endpoint ({lines[0]})")
        return outcome
    for line in lines:
        print(f"audit: {line}")
    if outcome == VULNERABLE:
        subprocess.run([npm, "audit"], cwd=ROOT, check=False)  # noqa: S603 - fixed argv
    return outcome


def node_outcome(stdout: str) -> tuple[str, list[str]]:
    """What `npm audit --json` printed means, and the lines worth showing."""
    report = _json(stdout)
    if not isinstance(report, dict):
        return FAILED, ["npm audit printed no report"]
    counts = report.get("metadata", {}).get("vulnerabilities")
    if isinstance(counts, dict):
        found = {level: n for level, n in counts.items() if level != "total" and n}
        if found:
            return VULNERABLE, [f"npm audit found {found}"]
        return CLEAN, ["npm audit found no known vulnerabilities."]
    error = report.get("error") if isinstance(report.get("error"), dict) else {}
    code = str(error.get("code") or report.get("code") or "")
    why = report.get("message") or error.get("summary") or code or "no report"
    if "statusCode" in report or code in _NPM_UNREACHABLE:
        return UNREACHABLE, [str(why)]
    return FAILED, [f"npm audit failed: {why}"]


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def _not_audited(which: str, why: str) -> None:
    print(
        f"audit: {which} dependencies NOT AUDITED: {why}, from this machine. "
        "Run `make audit` where the internet is reachable (PORTAL_REQUIRE_AUDIT=1 makes this "
        "an error)."
    )


if __name__ == "__main__":
    sys.exit(main())
