"""A keyring that follows its file: running processes pick up a rotated or retired keyring
without a restart.

Each use costs one stat() of the file. When its identity (inode, modification and change
times, size) changes, the file is loaded again and, only if the check passes
(portal.crypto.keycheck `check_reload`: it still belongs to the database and has lost no
registered key), swapped in. A reload that fails keeps the keyring in use, logs once, and is
tried again a little later; it never fails the caller.

Data under a version the keyring lacks is met mid-rotation, before this process has seen the
file holding it: `unwrap` then waits for a reload another thread has under way, or checks the
file itself, and tries once more before raising UnknownKeyVersion.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from portal.crypto.errors import KeyringError, UnknownKeyVersion
from portal.crypto.keyring import FileKeyring, Keyring, WrappedKey

log = logging.getLogger(__name__)

FileStamp = tuple[int, int, int, int]
ReloadCheck = Callable[[FileKeyring, FileKeyring], None]
RETRY_SECONDS = 30.0


class ReloadingKeyring:
    """The Keyring interface over whatever the keyring file held when last checked.

    For several operations that must see one keyring (a key check), use `current()` once.
    """

    def __init__(
        self,
        path: Path,
        loaded: FileKeyring,
        check: ReloadCheck,
        *,
        retry_seconds: float = RETRY_SECONDS,
    ) -> None:
        self._path = path
        self._keyring = loaded
        self._stamp = _stamp(path)
        self._check = check
        self._retry_seconds = retry_seconds
        self._refused: FileStamp | None = None
        self._refused_as_mismatch = False  # the file itself was refused, not the checking
        self._retry_at = 0.0
        self._reload_attempts = 0
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"ReloadingKeyring({self._keyring!r})"

    def current(self) -> FileKeyring:
        """The keyring now: reloaded first if the file changed and the new one passes."""
        stamp = _stamp(self._path)
        if stamp is None or stamp == self._stamp:
            return self._keyring
        if stamp == self._refused and time.monotonic() < self._retry_at:
            return self._keyring
        # One thread reloads; the others carry on with the keyring they have.
        if self._lock.acquire(blocking=False):
            try:
                self._reload(stamp)
            finally:
                self._lock.release()
        return self._keyring

    @property
    def active_version(self) -> int:
        return self.current().active_version

    def versions(self) -> frozenset[int]:
        return self.current().versions()

    def wrap(self, data_key: bytes, context: bytes) -> WrappedKey:
        return self.current().wrap(data_key, context)

    def unwrap(self, wrapped: WrappedKey, context: bytes) -> bytes:
        keyring = self.current()
        try:
            return keyring.unwrap(wrapped, context)
        except UnknownKeyVersion:
            newer = self._reload_now()
            if newer is keyring:
                raise
        return newer.unwrap(wrapped, context)

    def _reload_now(self) -> FileKeyring:
        """The keyring after waiting for any reload under way, or else checking the file now.

        A file refused as not matching the database is not checked again before its back-off
        ends; one refused because the check itself failed (the database unreachable, say) is.
        """
        attempts = self._reload_attempts
        with self._lock:  # waits for a thread that is reloading
            if self._reload_attempts != attempts:
                return self._keyring  # it just tried: its outcome stands
            stamp = _stamp(self._path)
            if stamp is None or stamp == self._stamp:
                return self._keyring
            backing_off = stamp == self._refused and time.monotonic() < self._retry_at
            if not (backing_off and self._refused_as_mismatch):
                self._reload(stamp)
            return self._keyring

    def _reload(self, stamp: FileStamp) -> None:
        self._reload_attempts += 1
        try:
            candidate = FileKeyring.load(self._path)
            self._check(self._keyring, candidate)
        except Exception as error:  # a bad file or an unreachable database: keep serving
            self._refuse(stamp, error)
            return
        log.info(
            "keyring file %s reloaded: versions %s, active %d",
            self._path,
            sorted(candidate.versions()),
            candidate.active_version,
        )
        self._keyring, self._stamp, self._refused = candidate, stamp, None

    def _refuse(self, stamp: FileStamp, error: Exception) -> None:
        if stamp != self._refused:
            # Keyring messages name paths and versions only; anything else by its type alone.
            reason = str(error) if isinstance(error, KeyringError) else type(error).__name__
            log.error(
                "keyring file %s changed but was not reloaded (%s); still using versions %s, "
                "active %d",
                self._path,
                reason,
                sorted(self._keyring.versions()),
                self._keyring.active_version,
            )
        self._refused = stamp
        self._refused_as_mismatch = isinstance(error, KeyringError)
        self._retry_at = time.monotonic() + self._retry_seconds


def snapshot(keyring: Keyring) -> Keyring:
    """One consistent keyring for a series of operations (a reloading one's current file)."""
    return keyring.current() if isinstance(keyring, ReloadingKeyring) else keyring


def _stamp(path: Path) -> FileStamp | None:
    try:
        found = os.stat(path)
    except OSError:
        return None  # mid-copy or briefly missing: keep what we have
    # The change time too: a copy in place that keeps the size and sets the modification time
    # back (`cp -p`) still changes it.
    return (found.st_ino, found.st_mtime_ns, found.st_ctime_ns, found.st_size)
