"""`portal attachments check-scanner` against real clamds: one with the limits the project
ships (infra/clamav/clamd.conf), which passes; one with clamd's own default limits, which must
fail and name the test file that got through; and none at all."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from flask import Flask

from loopback.processes import PROJECT_ROOT, portal_command
from portal import cli, create_app
from portal.attachments import scanner_check
from portal.attachments.probes import PROBES
from portal.settings import AttachmentSettings
from tests.conftest import TEST_SECRET_KEY, test_settings
from tests.support.clamd import Clamd
from tests.support.terminal import on_a_pty


@pytest.fixture(scope="module")
def default_clamd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Clamd]:
    """clamd as Debian installs it, limits untouched: MaxFileSize 100 MiB and no alerts."""
    with Clamd(tmp_path_factory.mktemp("clamd-default"), limits="default") as running:
        yield running


def check_scanner(
    tmp_path: Path, keyring_path: Path, monkeypatch: pytest.MonkeyPatch, **attachments: Any
) -> Result:
    storage = tmp_path / "files"
    storage.mkdir(exist_ok=True)
    settings = test_settings(
        f"sqlite:///{tmp_path / 'unused.db'}",
        keyring_path,
        attachments={"storage_directory": str(storage), "scanner": "clamd", **attachments},
    )
    app: Flask = create_app(settings, check_database=False)
    monkeypatch.setattr(cli.base, "create_app", lambda **_options: app)
    return CliRunner().invoke(cli.cli, ["attachments", "check-scanner"])


def record(tmp_path: Path) -> Path:
    return scanner_check.record_path(AttachmentSettings(storage_directory=tmp_path / "files"))


def recorded(tmp_path: Path) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(record(tmp_path).read_text(encoding="utf-8"))
    return body


def table(result: Result) -> dict[str, list[str]]:
    """Each test file's row: its inspection, scanner and outcome columns."""
    names = {probe.name for probe in PROBES}
    rows = [line.split() for line in result.stdout.splitlines()]
    return {row[0]: row[1:] for row in rows if row and row[0] in names}


def test_passes_against_clamd_with_the_shipped_limits(
    clamd: Clamd, tmp_path: Path, keyring_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = check_scanner(tmp_path, keyring_path, monkeypatch, clamd_socket=str(clamd.socket_path))
    rows = table(result)
    assert set(rows) == {probe.name for probe in PROBES}
    for probe in PROBES:
        if probe.scanner_must_refuse:
            assert "refused" in rows[probe.name], result.stdout
    assert result.stdout.startswith("Scanner: ClamAV ")
    assert "Passed: each of the 7 test files was refused." in result.stdout, result.stdout
    assert result.exit_code == 0
    assert result.stderr == ""  # quiet: no log lines, no progress when not on a terminal
    assert recorded(tmp_path) | {"checked_at": None} == {
        "passed": True,
        "scanner_version": clamd.scanner().version(),
        "checked_at": None,
        "failed": [],
    }


def test_fails_against_clamd_with_its_default_limits_and_names_what_got_through(
    default_clamd: Clamd, tmp_path: Path, keyring_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = check_scanner(
        tmp_path, keyring_path, monkeypatch, clamd_socket=str(default_clamd.socket_path)
    )
    assert result.exit_code == 1, result.stdout
    rows = table(result)
    # Past the default MaxFileSize clamd skips a part without a word and answers OK; without
    # AlertExceedsMax and AlertEncrypted it says OK for what it stopped at or could not open.
    let_through = {
        "after-zeros": "EICAR after 150 MiB of zeros in a Word document part",
        "zip-bomb": "EICAR after 1 GiB of zeros in a Word document part",
        "encrypted": "EICAR in a password-protected Word document part",
    }
    for name, description in let_through.items():
        assert rows[name][-2:] == ["accepted", "FAILED"], result.stdout
        assert f"FAILED {name} ({description}): the scanner accepted it." in result.stdout
    assert "infra/clamav/clamd.conf" in result.stdout
    # What a default clamd does catch, it still catches.
    for name in ("plain", "zipped", "docx-member"):
        assert rows[name][-1] == "ok", result.stdout
    assert set(let_through) <= set(recorded(tmp_path)["failed"])
    assert recorded(tmp_path)["passed"] is False


def test_a_scanner_that_does_not_answer_fails_with_one_clear_line(
    tmp_path: Path, keyring_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    socket = tmp_path / "no-clamd-here.sock"
    result = check_scanner(tmp_path, keyring_path, monkeypatch, clamd_socket=str(socket))
    assert result.exit_code == 2  # could not check, as opposed to checked and failed (1)
    assert result.stdout == ""
    assert result.stderr == f"portal: the scanner does not answer at {socket}: is clamd running?\n"
    assert recorded(tmp_path)["passed"] is False


def test_with_no_scanner_configured_there_is_nothing_to_check(
    tmp_path: Path, keyring_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = check_scanner(tmp_path, keyring_path, monkeypatch, scanner="none")
    assert result.exit_code == 2
    assert "there is no scanner to check" in result.stderr
    assert not record(tmp_path).exists()


def check_scanner_process(environment: dict[str, str], *, terminal: bool) -> tuple[int, str, str]:
    """`portal attachments check-scanner` as its own process: on a pty (stdout and stderr
    both, as a terminal shows them) or through pipes."""
    arguments = portal_command("attachments", "check-scanner")
    if not terminal:
        done = subprocess.run(  # noqa: S603 - the project's own command
            arguments, env=environment, cwd=PROJECT_ROOT, capture_output=True, text=True
        )
        return done.returncode, done.stdout, done.stderr
    code, shown = on_a_pty(arguments, environment)
    return code, shown, ""


def test_progress_on_a_terminal_and_only_the_table_when_piped(
    default_clamd: Clamd, tmp_path: Path, keyring_path: Path
) -> None:
    (tmp_path / "files").mkdir()
    environment = {key: value for key, value in os.environ.items() if not key.startswith("PORTAL_")}
    environment |= {
        "PORTAL_ENV": "test",
        "PORTAL_DATABASE__URL": f"sqlite:///{tmp_path / 'unused.db'}",
        "PORTAL_KEYRING__PATH": str(keyring_path),
        "PORTAL_SECURITY__SECRET_KEY": TEST_SECRET_KEY,
        "PORTAL_ATTACHMENTS__STORAGE_DIRECTORY": str(tmp_path / "files"),
        "PORTAL_ATTACHMENTS__SCANNER": "clamd",
        "PORTAL_ATTACHMENTS__CLAMD_SOCKET": str(default_clamd.socket_path),
    }
    status, shown, _ = check_scanner_process(environment, terminal=True)
    assert status == 1
    assert "Checking the scanner: 7 of 7 test files (100%), " in shown
    assert "FAILED after-zeros" in shown
    status, stdout, stderr = check_scanner_process(environment, terminal=False)
    assert status == 1
    assert stderr == ""  # no progress, and none of the warnings a refused upload logs
    assert stdout.startswith("Scanner: ClamAV ") and "\r" not in stdout
    assert "FAILED after-zeros" in stdout


def test_a_store_where_the_result_cannot_be_recorded_is_said_after_the_table(
    clamd: Clamd, tmp_path: Path, keyring_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    not_a_directory = tmp_path / "not-a-directory"
    not_a_directory.write_text("", encoding="utf-8")
    result = check_scanner(
        tmp_path,
        keyring_path,
        monkeypatch,
        clamd_socket=str(clamd.socket_path),
        storage_directory=str(not_a_directory),
    )
    assert result.exit_code == 2
    assert result.stdout.startswith("Scanner: ClamAV ")
    assert result.stderr.startswith("portal: the result could not be recorded in ")
    assert result.stderr.endswith(": Not a directory\n")
    assert "Traceback" not in result.output
