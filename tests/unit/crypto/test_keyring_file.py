"""Changing a keyring file in place: atomic, private, one writer at a time, never a lost key."""

from __future__ import annotations

import base64
import fcntl
import json
import os
import stat
import threading
from pathlib import Path

import pytest

from portal.crypto import FileKeyring, KeyringError, new_data_key
from portal.crypto.keyring import read_keyring_keys
from portal.crypto.keyring_file import (
    keyring_file_lock,
    remove_stale_copies,
    stage_keyring,
    staged_keyring,
)

KEK_1 = bytes(range(32))
KEK_2 = bytes(range(100, 132))


@pytest.fixture
def keyring_path(tmp_path: Path) -> Path:
    path = tmp_path / "keys" / "keyring.json"
    FileKeyring.create(path)
    return path


def leftovers(path: Path) -> list[str]:
    """Files beside the keyring other than itself and its lock."""
    return sorted(
        p.name for p in path.parent.iterdir() if p.name not in {path.name, ".keyring.json.lock"}
    )


def test_publish_replaces_the_file_with_every_version_privately(keyring_path: Path) -> None:
    old_keys, _ = read_keyring_keys(keyring_path)
    old_inode = keyring_path.stat().st_ino
    staged = stage_keyring(keyring_path, {**old_keys, 2: KEK_2}, 2)
    assert read_keyring_keys(keyring_path) == (old_keys, 1)  # nothing visible before publish

    staged.publish()

    assert read_keyring_keys(keyring_path) == ({**old_keys, 2: KEK_2}, 2)
    assert keyring_path.stat().st_ino != old_inode  # a rename, not a rewrite in place
    assert stat.S_IMODE(keyring_path.stat().st_mode) == 0o600
    assert leftovers(keyring_path) == []
    loaded = FileKeyring.load(keyring_path)
    data_key = new_data_key()
    assert loaded.unwrap(FileKeyring(old_keys, 1).wrap(data_key, b"ctx"), b"ctx") == data_key


def test_a_change_not_published_leaves_the_old_file_and_no_trace(keyring_path: Path) -> None:
    before = keyring_path.read_bytes()
    with pytest.raises(RuntimeError), staged_keyring(keyring_path, {1: KEK_1, 2: KEK_2}, 2):
        raise RuntimeError("the database transaction failed")
    assert keyring_path.read_bytes() == before
    assert leftovers(keyring_path) == []


def test_a_failed_write_never_replaces_the_file(
    keyring_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = keyring_path.read_bytes()

    def disk_full(_descriptor: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space"):
        stage_keyring(keyring_path, {1: KEK_1, 2: KEK_2}, 2)
    assert keyring_path.read_bytes() == before
    assert leftovers(keyring_path) == []


def test_the_new_file_is_refused_unless_it_is_a_valid_keyring(keyring_path: Path) -> None:
    with pytest.raises(KeyringError, match="active version 3"):
        stage_keyring(keyring_path, {1: KEK_1}, 3)
    with pytest.raises(KeyringError, match="16-byte"):
        stage_keyring(keyring_path, {1: KEK_1[:16]}, 1)
    assert leftovers(keyring_path) == []


def test_another_account_may_not_write_the_file(
    keyring_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Run as root, say, the new file would be root's and the portal could not read it.
    monkeypatch.setattr(os, "geteuid", lambda: keyring_path.stat().st_uid + 1)
    with pytest.raises(KeyringError, match="run this command as its owner"):
        stage_keyring(keyring_path, {1: KEK_1, 2: KEK_2}, 2)
    assert leftovers(keyring_path) == []


def test_writers_take_turns(keyring_path: Path) -> None:
    lock_file = keyring_path.with_name(".keyring.json.lock")
    with keyring_file_lock(keyring_path):
        with lock_file.open("rb") as other, pytest.raises(BlockingIOError):
            fcntl.flock(other.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    with lock_file.open("rb") as other:
        fcntl.flock(other.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)  # free again


def test_readers_see_the_whole_old_file_or_the_whole_new_one(keyring_path: Path) -> None:
    keys, _ = read_keyring_keys(keyring_path)
    stop = threading.Event()
    failures: list[BaseException] = []

    def read_continuously() -> None:
        while not stop.is_set():
            try:
                FileKeyring.load(keyring_path)
            except BaseException as error:  # noqa: BLE001 - any failure is the finding
                failures.append(error)

    reader = threading.Thread(target=read_continuously)
    reader.start()
    try:
        for version in range(2, 42):
            keys[version] = new_data_key()
            stage_keyring(keyring_path, keys, version).publish()
    finally:
        stop.set()
        reader.join()
    assert failures == []
    assert read_keyring_keys(keyring_path) == (keys, 41)


def test_copies_left_by_an_interrupted_change_are_deleted(keyring_path: Path) -> None:
    # A change killed between writing its copy and renaming it (nothing ran its clean-up).
    stage_keyring(keyring_path, {1: KEK_1, 2: KEK_2}, 2)
    abandoned = leftovers(keyring_path)
    assert len(abandoned) == 1 and abandoned[0].startswith(".keyring.json.")
    assert KEK_2 in base64_keys(keyring_path.parent / abandoned[0])
    others = [".keyring.json.old.tmp", ".other.json.0123456789abcdef.tmp", "keyring.json.bak"]
    for name in others:
        (keyring_path.parent / name).write_bytes(b"not ours to delete")

    assert remove_stale_copies(keyring_path) == 1

    assert leftovers(keyring_path) == sorted(others)
    assert read_keyring_keys(keyring_path)[1] == 1  # the keyring itself untouched
    assert remove_stale_copies(keyring_path) == 0


def base64_keys(path: Path) -> set[bytes]:
    return {base64.b64decode(key) for key in json.loads(path.read_bytes())["keys"].values()}
