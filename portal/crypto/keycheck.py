"""Proving at start-up that the keyring belongs to this database."""

from __future__ import annotations

import hashlib
import hmac
import os

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.crypto.errors import DecryptionError, KeyringError
from portal.crypto.keyring import Keyring, WrappedKey
from portal.models.keys import KeyCheck

_CONTEXT = b"portal/key-check/v1"


def register_keyring(db_session: Session, keyring: Keyring) -> list[int]:
    """Record a key check for every keyring version the database has none for yet."""
    known = set(db_session.scalars(sa.select(KeyCheck.kek_version)))
    added = []
    for version in sorted(keyring.versions() - known):
        if version != keyring.active_version:
            # Only the active version can wrap; older versions were registered when active.
            continue
        probe = os.urandom(32)
        wrapped = keyring.wrap(probe, _CONTEXT)
        db_session.add(
            KeyCheck(
                kek_version=wrapped.kek_version,
                wrapped_probe=wrapped.blob,
                probe_digest=hashlib.sha256(probe).digest(),
            )
        )
        added.append(version)
    return added


def verify_keyring(db_session: Session, keyring: Keyring) -> None:
    """Raise KeyringError, in one sentence, unless the keyring matches every recorded check."""
    checks = {check.kek_version: check for check in db_session.scalars(sa.select(KeyCheck))}
    if keyring.active_version not in checks:
        raise KeyringError(
            f"The database has no key check for keyring version {keyring.active_version}: if "
            "this is a new database run `portal keys register`, otherwise load the keyring "
            "that belongs to this database."
        )
    for version, check in sorted(checks.items()):
        if version not in keyring.versions():
            raise KeyringError(
                f"The database holds data under key version {version}, which this keyring "
                "lacks: load the keyring that belongs to this database."
            )
        try:
            probe = keyring.unwrap(WrappedKey(version, check.wrapped_probe), _CONTEXT)
        except DecryptionError:
            probe = b""
        if not hmac.compare_digest(hashlib.sha256(probe).digest(), check.probe_digest):
            raise KeyringError(
                f"Keyring version {version} does not match this database (it belongs to "
                "another database or was changed): load the keyring that belongs to it."
            )
