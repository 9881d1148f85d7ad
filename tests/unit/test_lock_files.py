"""The lock files install anywhere: they name no machine's index, wheel folder or path (one
build machine's `--extra-index-url file:///…` and `--find-links /…` once made every other
machine print warnings on install), and the command that made them keeps it that way."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REQUIREMENTS = Path(__file__).resolve().parents[2] / "requirements"
LOCKS = sorted(REQUIREMENTS.glob("*.txt"))
# Options that point pip somewhere: where to look is each machine's own pip configuration.
_WHERE_TO_LOOK = re.compile(
    r"^\s*(-i|-f|--index-url|--extra-index-url|--find-links|--trusted-host|--no-index)\b"
)
_LOCAL = re.compile(r"file:|(^|\s)(/|~/|\./|\.\./)\S|[A-Za-z]:\\")


def test_there_are_lock_files() -> None:
    assert {path.name for path in LOCKS} >= {"main.txt", "dev.txt"}


@pytest.mark.parametrize("lock", LOCKS, ids=lambda path: path.name)
def test_a_lock_names_no_index_or_local_path(lock: Path) -> None:
    lines = lock.read_text(encoding="utf-8").splitlines()
    pointing = [line for line in lines if _WHERE_TO_LOOK.match(line)]
    local = [line for line in lines if not line.startswith("#") and _LOCAL.search(line)]
    assert pointing == [] and local == []


@pytest.mark.parametrize("lock", LOCKS, ids=lambda path: path.name)
def test_the_command_that_made_it_leaves_them_out(lock: Path) -> None:
    text = lock.read_text(encoding="utf-8")
    command = re.search(r"^#\s+(pip-compile .*)$", text, re.MULTILINE)
    assert command, "the lock says which pip-compile command made it"
    assert "--no-emit-index-url" in command.group(1).split()
    assert "--no-emit-find-links" in command.group(1).split()
