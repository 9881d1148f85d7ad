"""Rewrapping data keys under the active key-encryption key, online, in batches.

Only the wrapped data keys change, never a ciphertext: each key is unwrapped with its old
version and wrapped again under the active one. Each batch is one transaction with its audit
event (counts only). Every row is written with a compare-and-set (still this version, still
not shredded), so a key shredded or rewrapped by someone else meanwhile is left alone: a
shredding is never undone, and two rewraps at once do no harm. Interrupted, it just runs
again (`portal keys rewrap`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from portal.audit import AuditAction, record_event
from portal.crypto.envelope import data_key_context
from portal.crypto.errors import DecryptionError, KeyringError
from portal.crypto.keycheck import verify_keyring
from portal.crypto.keyring import FileKeyring, WrappedKey
from portal.crypto.rotation import refuse_unless_newest_active
from portal.models.keys import DataKey

DEFAULT_BATCH_SIZE = 500
# Keys written under an old version while the sweep ran (by a process that had not yet
# reloaded the keyring) are picked up by another pass, a few times at most.
_MAX_PASSES = 3
_TABLE = cast(sa.Table, DataKey.__table__)
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class RewrapResult:
    active_version: int
    rewrapped: int
    skipped: int  # shredded or rewrapped by someone else between reading and writing
    remaining: int  # still under an older version when the last pass ended


def rewrap_data_keys(
    sessions: sessionmaker[Session],
    keyring: FileKeyring,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: Progress | None = None,
) -> RewrapResult:
    """Rewrap every data key that is not shredded and not under the active version."""
    target = keyring.active_version
    with sessions() as session:
        verify_keyring(session, keyring)
        # Under an older version than the newest, it would move keys backwards (a stale file).
        refuse_unless_newest_active(session, keyring.versions(), target)
        total = remaining_count(session, target)
    done = skipped = 0
    for _ in range(_MAX_PASSES):
        moved_in_pass = 0
        after = None
        while True:
            with sessions.begin() as session:
                moved, seen, after = _rewrap_batch(session, keyring, batch_size, after)
            if seen == 0:
                break
            done += moved
            skipped += seen - moved
            moved_in_pass += moved
            if progress is not None:
                progress(done, max(total, done))
        with sessions() as session:
            remaining = remaining_count(session, target)
        if remaining == 0 or moved_in_pass == 0:
            break
        total = done + remaining
    return RewrapResult(target, done, skipped, remaining)


def remaining_count(session: Session, active_version: int) -> int:
    """Data keys, not shredded, under a version other than `active_version`."""
    query = sa.select(sa.func.count()).where(
        DataKey.kek_version != active_version, DataKey.wrapped_key.is_not(None)
    )
    return session.scalar(query) or 0


def _rewrap_batch(
    session: Session, keyring: FileKeyring, batch_size: int, after: object
) -> tuple[int, int, object]:
    """One batch after id `after`: (rewrapped, read, last id read)."""
    target = keyring.active_version
    query = sa.select(_TABLE.c.id, _TABLE.c.kek_version, _TABLE.c.wrapped_key).where(
        _TABLE.c.kek_version != target, _TABLE.c.wrapped_key.is_not(None)
    )
    if after is not None:
        query = query.where(_TABLE.c.id > after)
    rows = session.execute(query.order_by(_TABLE.c.id).limit(batch_size)).all()
    if not rows:
        return 0, 0, after
    connection = session.connection()
    moved = 0
    for row in rows:
        context = data_key_context(row.id)
        try:
            data_key = keyring.unwrap(WrappedKey(row.kek_version, row.wrapped_key), context)
        except DecryptionError:
            raise KeyringError(
                f"A data key under key version {row.kek_version} cannot be unwrapped with this "
                "keyring: load the keyring that belongs to this database, or restore that "
                "version from your backup."
            ) from None
        rewrapped = keyring.wrap(data_key, context)
        result = connection.execute(
            sa.update(_TABLE)
            .where(
                _TABLE.c.id == row.id,
                _TABLE.c.kek_version == row.kek_version,
                _TABLE.c.wrapped_key.is_not(None),
            )
            .values(kek_version=rewrapped.kek_version, wrapped_key=rewrapped.blob)
        )
        moved += result.rowcount
    record_event(
        session,
        AuditAction.DATA_KEYS_REWRAPPED,
        object_type="key_version",
        object_id=str(target),
        details={
            "rewrapped": moved,
            "skipped": len(rows) - moved,
            "from_versions": ",".join(str(v) for v in sorted({row.kek_version for row in rows})),
        },
    )
    return moved, len(rows), rows[-1].id
