"""Registry files: identity providers as [[provider]] tables in a TOML file in config/, each
with an optional `client_secret_file` naming a file (outside git) that holds the secret."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from portal.auth.oidc.provider_spec import ProviderSpec, RegistryError, problems
from portal.config import PROJECT_ROOT
from portal.private_files import PrivateFileError, read_private_file


def load_file(path: Path, table: str = "provider") -> list[tuple[ProviderSpec, str | None]]:
    """Read providers from a TOML file: [[provider]] tables (or another `table`'s), each with
    an optional `client_secret_file` naming a file (outside git) that holds the secret."""
    try:
        with path.open("rb") as handle:
            data: dict[str, Any] = tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise RegistryError(f"Cannot read {path}: {error}.") from None
    entries = data.get(table, [])
    if not isinstance(entries, list) or not entries:
        raise RegistryError(f"{path} has no [[{table}]] tables.")
    loaded = []
    for number, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict):
            raise RegistryError(f"{path}, provider {number}: write it as a [[{table}]] table.")
        entry = dict(entry)
        secret_file = entry.pop("client_secret_file", None)
        try:
            spec = ProviderSpec.model_validate(entry)
        except ValidationError as error:
            field, sentence = problems(error)[0]
            raise RegistryError(f"{path}, provider {number}: {field}: {sentence}.") from None
        if secret_file is not None and not isinstance(secret_file, str):
            raise RegistryError(f"{path}, provider {number}: client_secret_file must be a path.")
        loaded.append((spec, _read_secret(path, secret_file) if secret_file else None))
    return loaded


def secret_file_path(name: str) -> Path:
    """Where a `client_secret_file` entry points: relative paths are from the project root."""
    return Path(name) if Path(name).is_absolute() else PROJECT_ROOT / name


def _read_secret(source: Path, name: str) -> str:
    try:
        return read_secret_file(secret_file_path(name))
    except RegistryError as error:
        raise RegistryError(f"{source}: {error}") from None


def read_secret_file(path: Path) -> str:
    """A client secret from a file only its owner can read (never from a command line)."""
    try:
        secret = read_private_file(
            path, "Client secret file", f"install -m 600 /dev/null {path}", 4096
        )
    except PrivateFileError as error:
        raise RegistryError(str(error)) from None
    try:
        return secret.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise RegistryError(f"Client secret file {path} is not text: check it.") from None
