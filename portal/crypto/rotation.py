"""Key-encryption key versions over their life: added (and made active), registered, retired.

Every change follows one order: hold the keyring file's lock and a database transaction;
check the file on disk still belongs to the database (then delete the copies an interrupted
change left); make the database change and its audit event; write the new file beside the old
one; commit; then rename the new file into place. A failure before the commit changes nothing;
the rename after it cannot half-happen. Running processes pick the new file up by themselves
(portal.crypto.reloading).

The database does not record which version is active, but it is always the newest registered
one once activated: only `rotate --stage` registers a version that is not. So rewrapping and
retiring refuse a keyring file whose active version is older than that (a host given the file
before the activation: it would undo the rotation), and an older version is never activated.

Rewrapping data keys under the active version is portal.crypto.rewrap.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from portal.audit import AuditAction, record_event
from portal.crypto.keycheck import new_key_check, verify_keyring
from portal.crypto.keyring import FileKeyring, new_data_key, read_keyring_keys
from portal.crypto.keyring_file import (
    StagedKeyring,
    keyring_file_lock,
    remove_stale_copies,
    stage_keyring,
)
from portal.models.keys import DataKey, KeyCheck

# Held for the transaction: two key changes from two hosts never interleave.
_KEY_CHANGE_LOCK_ID = 7_200_005
Keys = dict[int, bytes]
Change = Callable[[Session, Keys, int], tuple[Keys, int] | None]


class KeyChangeRefused(Exception):
    """The change cannot be made; the message says why and what to do, in one sentence."""


@dataclass(frozen=True)
class VersionStatus:
    version: int
    in_keyring: bool
    registered: bool
    active: bool
    data_keys: int  # not shredded: what the keyring must be able to unwrap
    shredded: int


def add_version(path: Path, sessions: sessionmaker[Session], *, activate: bool) -> int:
    """Add a new key-encryption key version to the keyring and register its key check; make
    it the active one unless `activate` is false (staged, for copying to other hosts first)."""
    added: list[int] = []

    def change(session: Session, keys: Keys, active: int) -> tuple[Keys, int]:
        registered = set(session.scalars(sa.select(KeyCheck.kek_version)))
        version = max(keys.keys() | registered) + 1
        key = new_data_key()  # 32 random bytes, like every key-encryption key
        session.add(new_key_check(version, key))
        record_event(
            session,
            AuditAction.KEK_ROTATED,
            object_type="key_version",
            object_id=str(version),
            details={"activated": activate, "previous_active": active},
        )
        added.append(version)
        return {**keys, version: key}, version if activate else active

    _change_keyring(path, sessions, change)
    return added[0]


def activate_version(path: Path, sessions: sessionmaker[Session], version: int) -> None:
    """Make a staged (added, registered) version the one new data keys are wrapped under."""

    def change(session: Session, keys: Keys, active: int) -> tuple[Keys, int]:
        if version == active:
            raise KeyChangeRefused(f"Key version {version} is already the active one.")
        if version not in keys:
            raise KeyChangeRefused(
                f"This keyring has no key version {version}: add one with "
                "`portal keys rotate --stage`, or copy the keyring that has it to this host."
            )
        verify_keyring(session, FileKeyring(keys, version))  # registered, and the right key
        newest = newest_registered_version(session)
        if newest is not None and version < newest:
            raise KeyChangeRefused(
                f"Key version {version} is older than key version {newest}: a rotation is never "
                f"undone, so activate {newest} or rotate to a new version instead."
            )
        record_event(
            session,
            AuditAction.KEK_ACTIVATED,
            object_type="key_version",
            object_id=str(version),
            details={"previous_active": active},
        )
        return keys, version

    _change_keyring(path, sessions, change)


def retire_version(path: Path, sessions: sessionmaker[Session], version: int) -> None:
    """Remove a version nothing needs any more: its key check first, then its key."""

    def change(session: Session, keys: Keys, active: int) -> tuple[Keys, int] | None:
        if version == active:
            raise KeyChangeRefused(
                f"Key version {version} is the active one: rotate to a new version and rewrap "
                "before retiring it."
            )
        refuse_unless_newest_active(session, keys.keys(), active)
        check = session.get(KeyCheck, version)
        if check is None and version not in keys:
            raise KeyChangeRefused(f"There is no key version {version} to retire.")
        _refuse_if_in_use(session, version)
        if check is not None:
            # On PostgreSQL this waits for anyone writing a data key under the version (the
            # trigger of migration 0005 holds a lock on the check), and nobody can afterwards.
            session.delete(check)
            session.flush()
            _refuse_if_in_use(session, version, just_now=True)
        remaining = {v: key for v, key in keys.items() if v != version}
        verify_keyring(session, FileKeyring(remaining, active))
        record_event(
            session,
            AuditAction.KEK_RETIRED,
            object_type="key_version",
            object_id=str(version),
            details={
                "had_key_check": check is not None,
                "shredded_data_keys": _count(session, version, shredded=True),
            },
        )
        return (remaining, active) if version in keys else None

    _change_keyring(path, sessions, change)


def newest_registered_version(session: Session) -> int | None:
    return session.scalar(sa.select(sa.func.max(KeyCheck.kek_version)))


def refuse_unless_newest_active(session: Session, versions: Collection[int], active: int) -> None:
    """Refuse a change made with a keyring whose active version is older than the newest
    registered one: a staged version, or a file copied before a rotation was activated."""
    newest = newest_registered_version(session)
    if newest is None or active >= newest:
        return
    if newest in versions:
        raise KeyChangeRefused(
            f"This keyring's active key version is {active} but version {newest} is newer: run "
            f"`portal keys activate {newest}` first, or copy here the keyring file of the host "
            "where it was activated."
        )
    raise KeyChangeRefused(
        f"This keyring file is out of date (its active key version is {active}, the database "
        f"has version {newest}): copy the newest keyring file to this host first, or if no host "
        f"has version {newest} (a key change was interrupted) run `portal keys rotate`."
    )


def key_status(path: Path, session: Session) -> list[VersionStatus]:
    """Every version the keyring or the database knows, and the data keys under each."""
    keys, active = read_keyring_keys(path)
    registered = set(session.scalars(sa.select(KeyCheck.kek_version)))
    unshredded = sa.func.count(DataKey.wrapped_key)  # COUNT(column) skips NULLs
    counts = {
        row.kek_version: (row.data_keys, row.total - row.data_keys)
        for row in session.execute(
            sa.select(
                DataKey.kek_version,
                unshredded.label("data_keys"),
                sa.func.count().label("total"),
            ).group_by(DataKey.kek_version)
        )
    }
    return [
        VersionStatus(
            version=version,
            in_keyring=version in keys,
            registered=version in registered,
            active=version == active,
            data_keys=counts.get(version, (0, 0))[0],
            shredded=counts.get(version, (0, 0))[1],
        )
        for version in sorted(keys.keys() | registered | counts.keys())
    ]


def _change_keyring(path: Path, sessions: sessionmaker[Session], change: Change) -> None:
    with keyring_file_lock(path):
        keys, active = read_keyring_keys(path)
        staged: StagedKeyring | None = None
        try:
            with sessions.begin() as session:
                _lock_key_changes(session)
                verify_keyring(session, FileKeyring(keys, active))
                # Only once the file serves the database: if it lacks a version the data
                # needs, a copy left by a change killed after its commit may be the last one.
                remove_stale_copies(path)
                new = change(session, keys, active)
                session.flush()
                if new is not None:
                    staged = stage_keyring(path, *new)
            if staged is not None:
                staged.publish()
        finally:
            if staged is not None:
                staged.discard()  # only if the commit failed: nothing was changed


def _lock_key_changes(session: Session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.text("SELECT pg_advisory_xact_lock(:id)"), {"id": _KEY_CHANGE_LOCK_ID})


def _refuse_if_in_use(session: Session, version: int, *, just_now: bool = False) -> None:
    in_use = _count(session, version, shredded=False)
    if not in_use:
        return
    if just_now:
        raise KeyChangeRefused(
            f"A data key was written under key version {version} a moment ago, by a process "
            "that has not picked up the new keyring: run `portal keys rewrap`, then retire again."
        )
    raise KeyChangeRefused(
        f"{in_use} data keys still use key version {version}: run `portal keys rewrap` first."
    )


def _count(session: Session, version: int, *, shredded: bool) -> int:
    wrapped = DataKey.wrapped_key.is_(None) if shredded else DataKey.wrapped_key.is_not(None)
    query = sa.select(sa.func.count()).where(DataKey.kek_version == version, wrapped)
    return session.scalar(query) or 0
