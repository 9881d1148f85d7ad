"""`portal secret-key create` writes an owner-only file and never overwrites one."""

from __future__ import annotations

import stat
from pathlib import Path

from click.testing import CliRunner

from portal.cli import cli


def test_secret_key_create_writes_a_private_file_in_private_directories(tmp_path: Path) -> None:
    path = tmp_path / "new" / "nested" / "secret_key"
    result = CliRunner().invoke(cli, ["secret-key", "create", "--path", str(path)])

    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    for directory in (path.parent, path.parent.parent):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert len(path.read_text(encoding="utf-8").strip()) >= 32
    assert path.read_text(encoding="utf-8").strip() not in result.output


def test_secret_key_create_refuses_to_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "secret_key"
    path.write_text("existing", encoding="utf-8")
    result = CliRunner().invoke(cli, ["secret-key", "create", "--path", str(path)])

    assert result.exit_code != 0
    assert path.read_text(encoding="utf-8") == "existing"
