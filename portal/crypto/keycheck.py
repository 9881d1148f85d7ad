"""Proving that the keyring belongs to this database: at start-up, on /readyz, when a running
process reloads a changed keyring file, and before any `portal keys` change."""

from __future__ import annotations

import hashlib
import hmac
import os

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.crypto.errors import DecryptionError, KeyringError
from portal.crypto.keyring import FileKeyring, Keyring, WrappedKey
from portal.crypto.reloading import snapshot
from portal.models.keys import DataKey, KeyCheck

_CONTEXT = b"portal/key-check/v1"


def new_key_check(version: int, key: bytes) -> KeyCheck:
    """A key check for the key-encryption key `key` of `version`, active or not yet."""
    probe = os.urandom(32)
    wrapped = FileKeyring({version: key}, version).wrap(probe, _CONTEXT)
    return KeyCheck(
        kek_version=version,
        wrapped_probe=wrapped.blob,
        probe_digest=hashlib.sha256(probe).digest(),
    )


def register_keyring(db_session: Session, keyring: Keyring) -> list[int]:
    """Record a key check for every keyring version the database has none for yet."""
    keyring = snapshot(keyring)
    known = set(db_session.scalars(sa.select(KeyCheck.kek_version)))
    added = []
    for version in sorted(keyring.versions() - known):
        if version != keyring.active_version:
            # Only the active version can wrap; `portal keys rotate` registers each version it
            # adds (the one it makes active, or the one it stages with --stage).
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
    """Raise KeyringError, in one sentence, unless this keyring can serve this database.

    It can when its active version is registered, every version it holds that the database
    has a check for unwraps that check, and every data key in the database is under a version
    it holds. A registered version it lacks is no fault while no data key uses it: that is a
    process which has not yet picked up a newly added version (staged by `portal keys rotate
    --stage`, or added on another host during a rotation), and it reads everything there is. It
    is not ready the moment something it cannot unwrap exists.
    """
    keyring = snapshot(keyring)
    checks = {check.kek_version: check for check in db_session.scalars(sa.select(KeyCheck))}
    if keyring.active_version not in checks:
        raise KeyringError(
            f"The database has no key check for keyring version {keyring.active_version}: if "
            "this is a new database run `portal keys register`, otherwise load the keyring "
            "that belongs to this database."
        )
    for version, check in sorted(checks.items()):
        if version not in keyring.versions():
            if holds_data_under(db_session, version):
                raise KeyringError(
                    f"The database holds data under key version {version}, which this keyring "
                    "lacks: load the keyring that belongs to this database (after a rotation, "
                    "copy the new keyring file to this host)."
                )
            continue
        try:
            probe = keyring.unwrap(WrappedKey(version, check.wrapped_probe), _CONTEXT)
        except DecryptionError:
            probe = b""
        if not hmac.compare_digest(hashlib.sha256(probe).digest(), check.probe_digest):
            raise KeyringError(
                f"Keyring version {version} does not match this database (it belongs to "
                "another database or was changed): load the keyring that belongs to it."
            )


def check_reload(db_session: Session, old: FileKeyring, new: FileKeyring) -> None:
    """Raise KeyringError unless a running process may swap `old` for the changed file `new`:
    `new` serves the database, keeps every version of `old` that is still registered (only
    `portal keys retire`, which removes the check first, may drop one), and holds the same
    key for every version the two share."""
    verify_keyring(db_session, new)
    registered = set(db_session.scalars(sa.select(KeyCheck.kek_version)))
    for version in sorted(old.versions()):
        if version not in new.versions():
            if version in registered:
                raise KeyringError(
                    f"The changed keyring file lacks version {version}, which is still "
                    "registered: restore it, and remove versions only with `portal keys retire`."
                )
        elif not hmac.compare_digest(old.fingerprint(version), new.fingerprint(version)):
            raise KeyringError(
                f"The changed keyring file holds a different key for version {version}: restore "
                "the keyring from your backup."
            )


def holds_data_under(db_session: Session, version: int) -> bool:
    """Whether any data key that is not shredded is wrapped under `version`."""
    found = db_session.scalar(
        sa.select(DataKey.id)
        .where(DataKey.kek_version == version, DataKey.wrapped_key.is_not(None))
        .limit(1)
    )
    return found is not None
