"""A running process follows its keyring file: a good change is picked up at the next use; a
bad one is ignored (the old keyring stays in use), logged once, and tried again later. Data
under a version it lacks waits for a reload under way, or checks the file once more."""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path

import pytest

from portal.crypto import DecryptionError, FileKeyring, KeyringError, WrappedKey, new_data_key
from portal.crypto.errors import UnknownKeyVersion
from portal.crypto.keyring import keyring_file_bytes, read_keyring_keys
from portal.crypto.keyring_file import stage_keyring
from portal.crypto.reloading import ReloadingKeyring, snapshot

KEK_2 = bytes(range(100, 132))


class Checks:
    """Stands in for the database check (tested against PostgreSQL in test_key_rotation)."""

    def __init__(self) -> None:
        self.calls: list[tuple[frozenset[int], frozenset[int]]] = []
        self.refusal: Exception | None = None

    def __call__(self, old: FileKeyring, new: FileKeyring) -> None:
        self.calls.append((old.versions(), new.versions()))
        if self.refusal is not None:
            raise self.refusal


@pytest.fixture
def keyring_path(tmp_path: Path) -> Path:
    path = tmp_path / "keyring.json"
    FileKeyring.create(path)
    return path


def add_version(path: Path, version: int, key: bytes = KEK_2) -> None:
    keys, _ = read_keyring_keys(path)
    stage_keyring(path, {**keys, version: key}, version).publish()


def reloading(path: Path, checks: Checks, retry_seconds: float = 30) -> ReloadingKeyring:
    return ReloadingKeyring(path, FileKeyring.load(path), checks, retry_seconds=retry_seconds)


def test_a_changed_file_is_used_from_the_next_call(keyring_path: Path) -> None:
    checks = Checks()
    keyring = reloading(keyring_path, checks)
    data_key = new_data_key()
    old = keyring.wrap(data_key, b"ctx")
    assert keyring.versions() == {1} and checks.calls == []  # unchanged: not even checked

    add_version(keyring_path, 2)

    assert keyring.active_version == 2
    assert checks.calls == [({1}, {1, 2})]
    new = keyring.wrap(data_key, b"ctx")
    assert new.kek_version == 2
    assert keyring.unwrap(old, b"ctx") == keyring.unwrap(new, b"ctx") == data_key
    assert isinstance(snapshot(keyring), FileKeyring) and snapshot(keyring).versions() == {1, 2}
    keyring.versions()
    assert len(checks.calls) == 1  # loaded once per change


@pytest.mark.parametrize(
    "spoil",
    [
        lambda path: path.write_text("{not json"),
        lambda path: (add_version(path, 2), path.chmod(0o644)),
        lambda path: path.unlink(),
    ],
    ids=["malformed", "exposed", "missing"],
)
def test_a_broken_file_keeps_the_keyring_in_use(keyring_path: Path, spoil: object) -> None:
    keyring = reloading(keyring_path, Checks())
    wrapped = keyring.wrap(new_data_key(), b"ctx")
    spoil(keyring_path)  # type: ignore[operator]
    assert keyring.active_version == 1
    assert keyring.unwrap(wrapped, b"ctx")


def test_a_refused_reload_is_logged_once_and_tried_again_later(
    keyring_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = [1000.0]
    monkeypatch.setattr("portal.crypto.reloading.time.monotonic", lambda: clock[0])
    checks = Checks()
    checks.refusal = KeyringError("The changed keyring file lacks version 1, which is registered")
    keyring = reloading(keyring_path, checks, retry_seconds=30)
    add_version(keyring_path, 2)

    with caplog.at_level(logging.INFO, logger="portal.crypto.reloading"):
        for _ in range(5):
            assert keyring.versions() == {1}
        assert len(checks.calls) == 1  # not retried on every call
        clock[0] += 31
        checks.refusal = None
        assert keyring.versions() == {1, 2}

    refusals = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(refusals) == 1
    assert "lacks version 1" in refusals[0].getMessage()
    assert "still using versions [1], active 1" in refusals[0].getMessage()
    assert any("reloaded: versions [1, 2], active 2" in r.getMessage() for r in caplog.records)
    assert KEK_2.hex() not in caplog.text


def test_an_unexpected_error_while_checking_is_logged_by_its_type_only(
    keyring_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    checks = Checks()
    checks.refusal = ConnectionError("database host db.internal said something sensitive")
    keyring = reloading(keyring_path, checks)
    add_version(keyring_path, 2)
    with caplog.at_level(logging.ERROR, logger="portal.crypto.reloading"):
        assert keyring.active_version == 1
    assert "ConnectionError" in caplog.text and "sensitive" not in caplog.text


def test_a_copy_in_place_keeping_size_and_modification_time_is_noticed(
    keyring_path: Path,
) -> None:
    add_version(keyring_path, 2)
    keys, _ = read_keyring_keys(keyring_path)
    staged = keyring_path.stat()
    keyring = reloading(keyring_path, Checks())
    assert keyring.active_version == 2
    time.sleep(0.05)  # past the file system's clock tick, so the change time moves

    # `cp -p` of the same keyring with another version active: written into the same inode,
    # the same size, and the modification time set back to the source's.
    with keyring_path.open("r+b") as file:
        file.write(keyring_file_bytes(keys, 1))
    os.utime(keyring_path, ns=(staged.st_atime_ns, staged.st_mtime_ns))
    copied = keyring_path.stat()
    assert (copied.st_ino, copied.st_size, copied.st_mtime_ns) == (
        staged.st_ino,
        staged.st_size,
        staged.st_mtime_ns,
    )

    assert keyring.active_version == 1


class SlowChecks(Checks):
    """A check that holds the reload (and its lock) until released: another thread reloading."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Event()
        self.release = threading.Event()

    def __call__(self, old: FileKeyring, new: FileKeyring) -> None:
        super().__call__(old, new)
        self.entered.set()
        assert self.release.wait(10)


def test_a_thread_meeting_a_new_version_waits_for_the_reload_under_way(
    keyring_path: Path,
) -> None:
    checks = SlowChecks()
    keyring = reloading(keyring_path, checks)
    add_version(keyring_path, 2)
    data_key = new_data_key()
    # Written by a process that already has the new file.
    wrapped = FileKeyring.load(keyring_path).wrap(data_key, b"ctx")
    reloader = threading.Thread(target=keyring.versions)  # wins the reload, then is held
    reloader.start()
    assert checks.entered.wait(5)

    started = threading.Event()
    results: list[object] = []

    def read() -> None:
        started.set()
        try:
            results.append(keyring.unwrap(wrapped, b"ctx"))
        except Exception as error:  # noqa: BLE001 - the failure is the finding
            results.append(error)

    reader = threading.Thread(target=read)
    reader.start()
    assert started.wait(5)
    reader.join(timeout=0.5)
    still_waiting = reader.is_alive()
    checks.release.set()
    reader.join(5)
    reloader.join(5)

    assert still_waiting, f"it did not wait for the reload: {results}"
    assert results == [data_key]
    assert len(checks.calls) == 1  # it used that reload, and did not check the file again


def test_an_unknown_version_in_an_unchanged_file_fails_at_once(keyring_path: Path) -> None:
    checks = Checks()
    keyring = reloading(keyring_path, checks)
    elsewhere = FileKeyring({2: KEK_2}, 2).wrap(new_data_key(), b"ctx")
    with pytest.raises(UnknownKeyVersion, match="version 2"):
        keyring.unwrap(elsewhere, b"ctx")
    assert checks.calls == []
    # A wrong key under a version it holds is another matter: no reload is attempted for it.
    forged = WrappedKey(1, FileKeyring({1: KEK_2}, 1).wrap(new_data_key(), b"ctx").blob)
    with pytest.raises(DecryptionError) as refused:
        keyring.unwrap(forged, b"ctx")
    assert not isinstance(refused.value, UnknownKeyVersion)
    assert checks.calls == []


def test_a_reload_that_failed_to_check_is_tried_again_for_an_unknown_version(
    keyring_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("portal.crypto.reloading.time.monotonic", lambda: 1000.0)  # no back-off end
    checks = Checks()
    checks.refusal = ConnectionError("the database was unreachable for a moment")
    keyring = reloading(keyring_path, checks)
    add_version(keyring_path, 2)
    assert keyring.versions() == {1}  # refused: the check could not run
    data_key = new_data_key()
    wrapped = FileKeyring.load(keyring_path).wrap(data_key, b"ctx")
    assert keyring.versions() == {1} and len(checks.calls) == 1  # backing off

    checks.refusal = None
    assert keyring.unwrap(wrapped, b"ctx") == data_key
    assert len(checks.calls) == 2 and keyring.versions() == {1, 2}


def test_a_file_refused_as_not_matching_is_not_checked_again_for_an_unknown_version(
    keyring_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("portal.crypto.reloading.time.monotonic", lambda: 1000.0)
    checks = Checks()
    checks.refusal = KeyringError("Keyring version 2 does not match this database")
    keyring = reloading(keyring_path, checks)
    add_version(keyring_path, 2)
    wrapped = FileKeyring.load(keyring_path).wrap(new_data_key(), b"ctx")
    assert keyring.versions() == {1}

    for _ in range(3):
        with pytest.raises(UnknownKeyVersion):
            keyring.unwrap(wrapped, b"ctx")
    assert len(checks.calls) == 1  # a refused file is not loaded for every request
