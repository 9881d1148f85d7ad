"""Changing a keyring file in place without ever losing a key: one writer at a time (a lock
file beside it), a private temporary copy written, synced and read back in the same directory,
then renamed over the old file, so every reader sees either the whole old file or the whole
new one.

The rename is a separate step (`StagedKeyring.publish`) so that the database change that goes
with it can commit first: a failure before the rename leaves the old file untouched. A process
killed meanwhile leaves its temporary copy (every key, mode 600) behind: the next key change
deletes it (`remove_stale_copies`).
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from portal.crypto.errors import KeyringError
from portal.crypto.keyring import keyring_file_bytes, read_keyring_keys
from portal.private_files import fsync_directory

log = logging.getLogger(__name__)


@contextmanager
def keyring_file_lock(path: Path) -> Iterator[None]:
    """Hold the keyring file's lock: `portal keys` commands on this host take turns."""
    lock_path = path.with_name(f".{path.name}.lock")
    try:
        descriptor = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise KeyringError(
            f"Cannot lock keyring file {path} ({exc.strerror}): its directory must be writable "
            "by the user running this command."
        ) from None
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)  # closing releases the lock


class StagedKeyring:
    """A complete new keyring file, durable beside the old one, waiting to replace it."""

    def __init__(self, path: Path, temporary: Path) -> None:
        self.path = path
        self._temporary: Path | None = temporary

    def publish(self) -> None:
        """Replace the old file with the new one (atomically), and make the rename durable."""
        if self._temporary is None:
            raise ValueError("this keyring was already published or discarded")
        os.replace(self._temporary, self.path)
        self._temporary = None
        fsync_directory(self.path.parent)

    def discard(self) -> None:
        if self._temporary is not None:
            self._temporary.unlink(missing_ok=True)
            self._temporary = None


@contextmanager
def staged_keyring(path: Path, keys: Mapping[int, bytes], active: int) -> Iterator[StagedKeyring]:
    """Write the new keyring beside `path`; the caller publishes it, or it is discarded."""
    staged = stage_keyring(path, keys, active)
    try:
        yield staged
    finally:
        staged.discard()  # nothing to do once published


def stage_keyring(path: Path, keys: Mapping[int, bytes], active: int) -> StagedKeyring:
    """Write `keys` (all of them: this replaces the file) to a private temporary file in the
    keyring's directory, synced and read back, ready to be renamed over `path`."""
    data = keyring_file_bytes(keys, active)
    _check_owner(path)
    temporary = path.with_name(f".{path.name}.{os.urandom(8).hex()}.tmp")
    try:
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise KeyringError(
            f"Cannot write beside keyring file {path} ({exc.strerror}): its directory must be "
            "writable by the user running this command."
        ) from None
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        # Read back as a loader would: a short write or a full disk never replaces the file.
        if read_keyring_keys(temporary) != (dict(keys), active):
            raise KeyringError(f"The new copy of keyring file {path} did not read back intact.")
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return StagedKeyring(path, temporary)


def remove_stale_copies(path: Path) -> int:
    """Delete the temporary copies of keyring file `path` that writers killed mid-change left
    beside it; returns how many. Call it holding the lock (no other writer is at work)."""
    copy_name = re.compile(rf"\.{re.escape(path.name)}\.[0-9a-f]{{16}}\.tmp")
    stale = [found for found in path.parent.iterdir() if copy_name.fullmatch(found.name)]
    for found in stale:
        try:
            found.unlink(missing_ok=True)
        except OSError as exc:
            raise KeyringError(
                f"Cannot delete {found}, a copy of every key left by an interrupted key change "
                f"({exc.strerror}): delete it yourself, then run the command again."
            ) from None
    if stale:
        fsync_directory(path.parent)
        log.warning(
            "deleted %d temporary copies of keyring file %s left by an interrupted key change",
            len(stale),
            path,
        )
    return len(stale)


def _check_owner(path: Path) -> None:
    # The renamed file belongs to whoever writes it: written by another account (root, say),
    # the portal's processes could no longer read it.
    try:
        owner = path.stat().st_uid
    except OSError as exc:
        raise KeyringError(f"Cannot read keyring file {path} ({exc.strerror}).") from None
    if owner != os.geteuid():
        raise KeyringError(
            f"Keyring file {path} belongs to another user: run this command as its owner (the "
            "account the portal runs as), so the portal can still read the new file."
        )
