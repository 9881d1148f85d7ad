"""pyproject.toml says what setuptools needs to install the project without a warning or a
notice (the install output of `make setup` and `make demo` once carried both)."""

from __future__ import annotations

import tomllib
from pathlib import Path

PYPROJECT = tomllib.loads(
    (Path(__file__).resolve().parents[2] / "pyproject.toml").read_text(encoding="utf-8")
)


def test_the_licence_is_an_spdx_expression() -> None:
    # A table ({ text = … }) is deprecated in setuptools 77 and later, and warns on install.
    assert PYPROJECT["project"]["license"] == "MIT"


def test_the_editable_install_is_a_plain_path_file() -> None:
    # Without it setuptools installs a meta-path finder and prints "Editable installation".
    assert PYPROJECT["tool"]["setuptools"]["package-dir"] == {"": "."}
