"""Tests for the file-backed keyring of key-encryption keys."""

import base64
import json
import os
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from portal.crypto import DecryptionError, FileKeyring, KeyringError, WrappedKey, new_data_key

KEK_1 = bytes(range(32))
KEK_2 = bytes(range(100, 132))


def write_keyring(path: Path, document: object, mode: int = 0o600) -> Path:
    path.write_text(json.dumps(document))
    path.chmod(mode)
    return path


def keyring_document(keys: dict[int, bytes], active: int) -> dict[str, object]:
    return {
        "format": "portal-keyring-v1",
        "active": active,
        "keys": {str(v): base64.b64encode(k).decode() for v, k in keys.items()},
    }


def assert_no_key_material(text: str, *keys: bytes) -> None:
    for key in keys:
        assert base64.b64encode(key).decode() not in text
        assert key.hex() not in text
        assert repr(key)[2:-1] not in text


def test_create_then_load_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "secrets" / "nested" / "keyring.json"
    created = FileKeyring.create(path)
    loaded = FileKeyring.load(path)
    assert loaded.versions() == frozenset({1}) == created.versions()
    assert loaded.active_version == 1
    data_key = new_data_key()
    assert loaded.unwrap(created.wrap(data_key, b"ctx"), b"ctx") == data_key
    document = json.loads(path.read_text())
    assert document["format"] == "portal-keyring-v1"
    assert len(base64.b64decode(document["keys"]["1"])) == 32


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_created_file_and_directories_are_private(tmp_path: Path) -> None:
    path = tmp_path / "secrets" / "nested" / "keyring.json"
    FileKeyring.create(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.parent.parent.stat().st_mode) == 0o700
    assert sorted(p.name for p in path.parent.iterdir()) == ["keyring.json"]


def test_create_refuses_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    path.write_text("precious")
    with pytest.raises(KeyringError, match="already exists"):
        FileKeyring.create(path)
    assert path.read_text() == "precious"


def test_new_data_key_is_random_32_bytes() -> None:
    first, second = new_data_key(), new_data_key()
    assert len(first) == 32
    assert first != second


def test_wrap_unwrap_round_trip() -> None:
    keyring = FileKeyring({1: KEK_1}, active_version=1)
    data_key = new_data_key()
    wrapped = keyring.wrap(data_key, b"row-1")
    assert wrapped.kek_version == 1
    assert data_key not in wrapped.blob
    assert len(wrapped.blob) == 12 + 32 + 16
    assert keyring.unwrap(wrapped, b"row-1") == data_key


def test_wrap_refuses_wrong_data_key_length() -> None:
    keyring = FileKeyring({1: KEK_1}, active_version=1)
    with pytest.raises(ValueError):
        keyring.wrap(b"short", b"ctx")


def test_unwrap_with_different_context_refused() -> None:
    keyring = FileKeyring({1: KEK_1}, active_version=1)
    wrapped = keyring.wrap(new_data_key(), b"row-1")
    with pytest.raises(DecryptionError):
        keyring.unwrap(wrapped, b"row-2")


def test_unwrap_with_other_keyring_same_version_refused() -> None:
    wrapped = FileKeyring({1: KEK_1}, active_version=1).wrap(new_data_key(), b"ctx")
    with pytest.raises(DecryptionError):
        FileKeyring({1: KEK_2}, active_version=1).unwrap(wrapped, b"ctx")


def test_unwrap_unknown_version_refused() -> None:
    keyring = FileKeyring({1: KEK_1}, active_version=1)
    wrapped = keyring.wrap(new_data_key(), b"ctx")
    with pytest.raises(DecryptionError, match="version 7"):
        keyring.unwrap(WrappedKey(kek_version=7, blob=wrapped.blob), b"ctx")


def test_unwrap_relabelled_version_refused() -> None:
    keyring = FileKeyring({1: KEK_1, 2: KEK_1}, active_version=1)
    wrapped = keyring.wrap(new_data_key(), b"ctx")
    with pytest.raises(DecryptionError):
        keyring.unwrap(WrappedKey(kek_version=2, blob=wrapped.blob), b"ctx")


def test_unwrap_tampered_or_short_blob_refused() -> None:
    keyring = FileKeyring({1: KEK_1}, active_version=1)
    wrapped = keyring.wrap(new_data_key(), b"ctx")
    flipped = bytes([wrapped.blob[0] ^ 1]) + wrapped.blob[1:]
    for blob in (flipped, wrapped.blob[:-1], wrapped.blob[:20], b""):
        with pytest.raises(DecryptionError):
            keyring.unwrap(WrappedKey(kek_version=1, blob=blob), b"ctx")


def test_two_versions_load_and_wrap_uses_active(tmp_path: Path) -> None:
    path = write_keyring(tmp_path / "k.json", keyring_document({1: KEK_1, 2: KEK_2}, 2))
    keyring = FileKeyring.load(path)
    assert keyring.versions() == frozenset({1, 2})
    assert keyring.active_version == 2
    data_key = new_data_key()
    wrapped = keyring.wrap(data_key, b"ctx")
    assert wrapped.kek_version == 2
    assert FileKeyring({2: KEK_2}, 2).unwrap(wrapped, b"ctx") == data_key
    old = FileKeyring({1: KEK_1}, 1).wrap(data_key, b"ctx")
    assert keyring.unwrap(old, b"ctx") == data_key


def test_load_refuses_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.json"
    with pytest.raises(KeyringError, match="No keyring file") as caught:
        FileKeyring.load(path)
    assert "portal keys create" in str(caught.value)


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o620])
def test_load_refuses_group_or_other_access(tmp_path: Path, mode: int) -> None:
    path = write_keyring(tmp_path / "k.json", keyring_document({1: KEK_1}, 1), mode)
    with pytest.raises(KeyringError) as caught:
        FileKeyring.load(path)
    assert f"chmod 600 {path}" in str(caught.value)
    assert_no_key_material(str(caught.value), KEK_1)


def test_load_refuses_directory(tmp_path: Path) -> None:
    with pytest.raises(KeyringError, match="not a regular file"):
        FileKeyring.load(tmp_path)


BAD_DOCUMENTS: dict[str, tuple[object, str]] = {
    "wrong format": ({**keyring_document({1: KEK_1}, 1), "format": "v0"}, "portal-keyring-v1"),
    "not an object": ([1, 2], "portal-keyring-v1"),
    "missing active key": (keyring_document({1: KEK_1}, 2), "active version 2"),
    "active not integer": ({**keyring_document({1: KEK_1}, 1), "active": "1"}, "active"),
    "no keys": ({**keyring_document({1: KEK_1}, 1), "keys": {}}, "keys"),
    "short key": (keyring_document({1: KEK_1[:16]}, 1), "16-byte"),
    "long key": (keyring_document({1: KEK_1 + b"x"}, 1), "33-byte"),
    "zero version": (keyring_document({0: KEK_1}, 0), "invalid key version"),
    "bad base64": (
        {**keyring_document({1: KEK_1}, 1), "keys": {"1": "not base64!"}},
        "base64",
    ),
}


@pytest.mark.parametrize("name", sorted(BAD_DOCUMENTS))
def test_load_refuses_malformed_documents(tmp_path: Path, name: str) -> None:
    document, expected = BAD_DOCUMENTS[name]
    path = write_keyring(tmp_path / "k.json", document)
    with pytest.raises(KeyringError, match=expected) as caught:
        FileKeyring.load(path)
    message = str(caught.value)
    assert str(path) in message
    assert message.count(". ") == 0
    assert_no_key_material(message, KEK_1, KEK_1[:16], KEK_1 + b"x")


@pytest.mark.parametrize("text", ["{not json", "", '{"format": "portal-keyring-v1", "format": 1}'])
def test_load_refuses_malformed_json(tmp_path: Path, text: str) -> None:
    path = tmp_path / "k.json"
    path.write_text(text)
    path.chmod(0o600)
    with pytest.raises(KeyringError, match="not valid JSON"):
        FileKeyring.load(path)


def test_repr_and_errors_contain_no_key_bytes(tmp_path: Path) -> None:
    keyring = FileKeyring({1: KEK_1, 2: KEK_2}, active_version=2)
    text = repr(keyring)
    assert "versions=[1, 2]" in text
    assert_no_key_material(text, KEK_1, KEK_2)
    assert not hasattr(keyring, "__dict__")
    for name in dir(keyring):
        value = getattr(keyring, name)
        if not name.startswith("_") and not callable(value):
            assert not isinstance(value, bytes | bytearray | dict)
            assert_no_key_material(repr(value), KEK_1, KEK_2)
    wrapped = keyring.wrap(new_data_key(), b"ctx")
    with pytest.raises(DecryptionError) as caught:
        keyring.unwrap(wrapped, b"other")
    assert_no_key_material(str(caught.value), KEK_1, KEK_2)
    created = FileKeyring.create(tmp_path / "new.json")
    stored = base64.b64decode(json.loads((tmp_path / "new.json").read_text())["keys"]["1"])
    assert_no_key_material(repr(created), stored)


def test_wrap_layout_matches_documented_format() -> None:
    data_key = new_data_key()
    wrapped = FileKeyring({3: KEK_1}, active_version=3).wrap(data_key, b"ctx")
    ad = b""
    for part in (b"portal/kek-wrap/v1", (3).to_bytes(4, "big"), b"ctx"):
        ad += len(part).to_bytes(4, "big") + part
    assert AESGCM(KEK_1).decrypt(wrapped.blob[:12], wrapped.blob[12:], ad) == data_key
