"""The reference CMS (python -m reference_cms) in its own process, restartable on the same port
and storage, with its fault switches on."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import requests

from loopback.processes import PROJECT_ROOT

CMS_CLIENT_ID = "portal-test"
CMS_CASE = "NCC-100234"  # a case the reference CMS seeds, with two children


class ReferenceCms:
    def __init__(self, directory: Path, client_id: str = CMS_CLIENT_ID) -> None:
        self.directory = directory
        self.client_id = client_id
        self.secret_file = directory / "cms-client-secret"
        self.secret_file.write_text(uuid.uuid4().hex, encoding="utf-8")
        self.port = 0
        self.url = ""
        self.process: subprocess.Popen[str] | None = None

    def start(self) -> ReferenceCms:
        command = [sys.executable, "-m", "reference_cms", "--port", str(self.port), "--faults"]
        command += ["--data-dir", str(self.directory / "data"), "--client-id", self.client_id]
        command += ["--client-secret-file", str(self.secret_file)]
        with (self.directory / "cms.log").open("a") as log:
            self.process = subprocess.Popen(  # noqa: S603 - our own module
                command, stdout=subprocess.PIPE, stderr=log, text=True, cwd=PROJECT_ROOT
            )
        if self.process.stdout is None:
            raise AssertionError("the reference CMS has no output to read")
        line = self.process.stdout.readline()
        self.process.stdout.close()
        ready = re.fullmatch(r"ready http://127\.0\.0\.1:(\d+)\n", line)
        if not ready:
            raise AssertionError("the reference CMS did not start")
        self.port = int(ready.group(1))
        self.url = f"http://127.0.0.1:{self.port}"
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def faults(self, **settings: Any) -> None:
        answer = requests.post(f"{self.url}/_faults", json=settings, timeout=5)
        if answer.status_code != 200:
            raise AssertionError(answer.text)

    def records(self) -> list[dict[str, str]]:
        answer = requests.get(f"{self.url}/_records", timeout=30)
        if answer.status_code != 200:
            raise AssertionError(answer.text)
        records: list[dict[str, str]] = answer.json()["records"]
        return records

    def received(self, record_id: str) -> dict[str, Any]:
        """The body the CMS received for one record, as it stored it."""
        answer = requests.get(f"{self.url}/_records/{record_id}", timeout=30)
        if answer.status_code != 200:
            raise AssertionError(answer.text)
        body: dict[str, Any] = answer.json()["body"]
        return body

    def delete(self, record_id: str) -> None:
        answer = requests.delete(f"{self.url}/_records/{record_id}", timeout=5)
        if answer.status_code != 204:
            raise AssertionError(answer.text)

    def post(self, key: str, body: dict[str, Any], case: str = CMS_CASE) -> requests.Response:
        """A contribution sent straight to the CMS, as another system (or a lost worker) would."""
        return requests.post(
            f"{self.url}/api/v1/cases/{case}/contributions",
            json=body,
            headers={"Authorization": f"Bearer {self.token()}", "Idempotency-Key": key},
            timeout=5,
        )

    def token(self) -> str:
        """An access token for the CMS's API, as the portal's client gets one."""
        secret = self.secret_file.read_text(encoding="utf-8")
        answer = requests.post(
            f"{self.url}/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(self.client_id, secret),
            timeout=5,
        )
        token: str = answer.json()["access_token"]
        return token

    def section(self) -> dict[str, str]:
        """The portal's [cms] settings for this CMS, through the reference adapter."""
        return {
            "adapter": "reference",
            "base_url": self.url,
            "client_id": self.client_id,
            "client_secret_file": str(self.secret_file),
        }

    def settings(self) -> dict[str, str]:
        """The same settings, as PORTAL_CMS__* variables."""
        return {f"PORTAL_CMS__{name.upper()}": value for name, value in self.section().items()}
