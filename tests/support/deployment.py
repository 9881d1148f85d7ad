"""A portal deployment of its own for operator commands: a committed PostgreSQL database, a
keyring file no other test shares (commands change it), an encrypted file store, the real
`portal` command run as its own process, and app instances as a web process would load them."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import Flask
from sqlalchemy.engine import Engine

from loopback.databases import create_database, drop_database, migrated_engine
from loopback.processes import PROJECT_ROOT
from portal import create_app, db
from portal.config import Settings
from portal.crypto import FileKeyring
from portal.models.keys import DataKey
from tests.conftest import TEST_SECRET_KEY, test_settings


@dataclass
class Deployment:
    url: str
    engine: Engine
    keyring_path: Path
    files: Path
    audit_key_path: Path

    def settings(self, **sections: Any) -> Settings:
        return test_settings(
            self.url,
            self.keyring_path,
            audit={"signing_key_file": str(self.audit_key_path)},
            attachments={"storage_directory": str(self.files), "scanner": "none"},
            **sections,
        )

    def app(self) -> Flask:
        """A new app instance: it loads the keyring file as it is now, like a web process."""
        return create_app(self.settings(), check_database=False)

    def environment(self) -> dict[str, str]:
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}
        # A checkpoint store, as in production: `portal audit verify` without one exits 3.
        witness = self.files.parent / "witness-store"
        witness.mkdir(exist_ok=True)
        return inherited | {
            "PORTAL_ENV": "test",
            "PORTAL_DATABASE__URL": self.url,
            "PORTAL_KEYRING__PATH": str(self.keyring_path),
            "PORTAL_SECURITY__SECRET_KEY": TEST_SECRET_KEY,
            "PORTAL_AUDIT__SIGNING_KEY_FILE": str(self.audit_key_path),
            "PORTAL_AUDIT__WITNESS_DIRECTORY": str(witness),
            "PORTAL_ATTACHMENTS__STORAGE_DIRECTORY": str(self.files),
            "PORTAL_ATTACHMENTS__SCANNER": "none",
        }

    def portal(self, *arguments: str) -> subprocess.CompletedProcess[str]:
        """`portal ARGUMENTS` in its own process, to the end."""
        return subprocess.run(  # noqa: S603 - the project's own command
            [sys.executable, "-m", "portal.cli", *arguments],
            env=self.environment(),
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def kek_versions(self) -> dict[int, int]:
        """Data keys not shredded, by the key version they are wrapped under."""
        with self.engine.connect() as connection:
            rows = connection.execute(
                sa.select(DataKey.kek_version, sa.func.count())
                .where(DataKey.wrapped_key.is_not(None))
                .group_by(DataKey.kek_version)
            )
            return {version: count for version, count in rows}


@contextmanager
def deployment(admin: Engine, audit_key_path: Path, directory: Path) -> Iterator[Deployment]:
    keyring_path = directory / "keys" / "keyring.json"
    keyring = FileKeyring.create(keyring_path)
    url = create_database(admin, "deployment")
    engine = migrated_engine(url, keyring)
    try:
        yield Deployment(url, engine, keyring_path, directory / "files", audit_key_path)
    finally:
        engine.dispose()
        drop_database(admin, url)


def dispose(app: Flask) -> None:
    db.database(app).engine.dispose()
