"""Key-encryption keys (KEKs) kept outside the database, used to wrap per-record data keys."""

import base64
import hashlib
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, Self

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from portal.crypto.errors import DecryptionError, KeyringError, UnknownKeyVersion
from portal.private_files import PrivateFileError, read_private_file, write_new_private_file

KEYRING_FORMAT = "portal-keyring-v1"
KEY_SIZE = 32
NONCE_SIZE = 12
_TAG_SIZE = 16
_WRAP_LABEL = b"portal/kek-wrap/v1"
_FINGERPRINT_LABEL = b"portal/kek-fingerprint/v1"
_MAX_VERSION = 2**32 - 1
_MAX_FILE_SIZE = 1024 * 1024
_VERSION_TEXT = re.compile(r"[1-9][0-9]{0,9}")


def encode_parts(*parts: bytes) -> bytes:
    """Concatenate byte strings so that no two different part lists encode the same way."""
    return b"".join(len(part).to_bytes(4, "big") + part for part in parts)


def new_data_key() -> bytes:
    """Return a fresh random 32-byte data key."""
    return os.urandom(KEY_SIZE)


@dataclass(frozen=True)
class WrappedKey:
    """A data key encrypted under the key-encryption key of version ``kek_version``."""

    kek_version: int
    blob: bytes


class Keyring(Protocol):
    """Wraps and unwraps data keys under versioned key-encryption keys.

    ``FileKeyring`` implements it with keys in a local file; a KMS-backed keyring (where the
    KEKs never leave the KMS) implements the same interface later, so callers depend only on it.
    ``context`` binds a wrapped key to its owner: unwrapping with another context fails.
    """

    @property
    def active_version(self) -> int:
        """The KEK version that ``wrap`` uses."""

    def versions(self) -> frozenset[int]:
        """Every KEK version this keyring can unwrap."""

    def wrap(self, data_key: bytes, context: bytes) -> WrappedKey:
        """Encrypt a 32-byte data key under the active KEK, bound to ``context``."""

    def unwrap(self, wrapped: WrappedKey, context: bytes) -> bytes:
        """Return the data key; raise DecryptionError if the version or context is wrong
        (UnknownKeyVersion if the keyring lacks the version)."""


class FileKeyring:
    """AES-256-GCM keyring whose KEKs live in a JSON file readable only by the portal's user."""

    __slots__ = ("_active", "_ciphers", "_fingerprints")

    def __init__(self, keys: Mapping[int, bytes], active_version: int) -> None:
        _check_keys(keys, active_version, "The keyring")
        # Only AESGCM objects are kept, so no attribute holds the raw KEK bytes.
        self._ciphers = {version: AESGCM(key) for version, key in keys.items()}
        self._active = active_version
        # One-way digests, so a reloaded file can be checked to hold the same keys.
        self._fingerprints = {
            version: hashlib.sha256(_FINGERPRINT_LABEL + key).digest()
            for version, key in keys.items()
        }

    def __repr__(self) -> str:
        return f"FileKeyring(active_version={self._active}, versions={sorted(self._ciphers)})"

    @property
    def active_version(self) -> int:
        return self._active

    def versions(self) -> frozenset[int]:
        return frozenset(self._ciphers)

    def fingerprint(self, version: int) -> bytes:
        """A one-way digest of one version's key: equal digests mean the same key."""
        return self._fingerprints[version]

    def wrap(self, data_key: bytes, context: bytes) -> WrappedKey:
        if len(data_key) != KEY_SIZE:
            raise ValueError(f"Data keys must be exactly {KEY_SIZE} bytes long.")
        nonce = os.urandom(NONCE_SIZE)
        sealed = self._ciphers[self._active].encrypt(
            nonce, data_key, _wrap_associated_data(self._active, context)
        )
        return WrappedKey(kek_version=self._active, blob=nonce + sealed)

    def unwrap(self, wrapped: WrappedKey, context: bytes) -> bytes:
        cipher = self._ciphers.get(wrapped.kek_version)
        if cipher is None:
            raise UnknownKeyVersion(
                f"Wrapped data key refused: key-encryption key version {wrapped.kek_version} "
                "is not in the keyring."
            )
        if len(wrapped.blob) < NONCE_SIZE + _TAG_SIZE:
            raise DecryptionError("Wrapped data key refused: the blob is too short.")
        nonce, sealed = wrapped.blob[:NONCE_SIZE], wrapped.blob[NONCE_SIZE:]
        try:
            data_key = cipher.decrypt(
                nonce, sealed, _wrap_associated_data(wrapped.kek_version, context)
            )
        except InvalidTag:
            raise DecryptionError(
                "Wrapped data key refused: wrong key-encryption key, wrong context, or tampered."
            ) from None
        if len(data_key) != KEY_SIZE:
            raise DecryptionError("Wrapped data key refused: it is not a 32-byte key.")
        return data_key

    @classmethod
    def load(cls, path: Path) -> Self:
        """Load a keyring file, refusing one that is missing, exposed or malformed."""
        keys, active = read_keyring_keys(path)
        return cls(keys, active)

    @classmethod
    def create(cls, path: Path) -> Self:
        """Write a new keyring holding one fresh KEK (version 1); never overwrite a file."""
        key = os.urandom(KEY_SIZE)
        try:
            write_new_private_file(path, keyring_file_bytes({1: key}, 1))
        except FileExistsError:
            raise KeyringError(_exists_message(path)) from None
        except OSError as exc:
            raise KeyringError(
                f"Cannot create keyring file {path} ({exc.strerror}): make sure its directory "
                "is writable by the user running this command."
            ) from None
        return cls({1: key}, 1)


def read_keyring_keys(path: Path) -> tuple[dict[int, bytes], int]:
    """The keys and active version of a keyring file, refusing one that is missing, exposed
    or malformed (for loading, and for writing a changed copy: portal.crypto.keyring_file)."""
    try:
        data = read_private_file(
            path, "Keyring file", f"portal keys create --path {path}", _MAX_FILE_SIZE
        )
    except PrivateFileError as error:
        raise KeyringError(str(error)) from None
    return _parse_keyring(path, data)


def keyring_file_bytes(keys: Mapping[int, bytes], active: int) -> bytes:
    """A keyring file's content: every version's key in base64, and the active version."""
    _check_keys(keys, active, "The keyring")
    document = {
        "format": KEYRING_FORMAT,
        "active": active,
        "keys": {
            str(version): base64.b64encode(keys[version]).decode("ascii")
            for version in sorted(keys)
        },
    }
    return (json.dumps(document, indent=2) + "\n").encode("ascii")


def _wrap_associated_data(version: int, context: bytes) -> bytes:
    return encode_parts(_WRAP_LABEL, version.to_bytes(4, "big"), context)


def _check_keys(keys: Mapping[int, bytes], active: int, source: str) -> None:
    for version, key in keys.items():
        if isinstance(version, bool) or not 1 <= version <= _MAX_VERSION:
            raise KeyringError(
                f"{source} has an invalid key version {version!r}: versions must be integers "
                f"from 1 to {_MAX_VERSION}."
            )
        if len(key) != KEY_SIZE:
            raise KeyringError(
                f"{source} has a {len(key)}-byte key for version {version} instead of a "
                f"{KEY_SIZE}-byte one: restore the keyring from your backup."
            )
    if active not in keys:
        raise KeyringError(
            f"{source} has no key for its active version {active!r}: set `active` to a version "
            "listed under `keys`, or restore the keyring from your backup."
        )


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    names = [name for name, _ in pairs]
    if len(set(names)) != len(names):
        raise ValueError("duplicate name")
    return dict(pairs)


def _parse_keyring(path: Path, data: bytes) -> tuple[dict[int, bytes], int]:
    broken = f"Keyring file {path}"
    try:
        document = json.loads(data, object_pairs_hook=_reject_duplicates)
    except ValueError:
        raise KeyringError(
            f"{broken} is not valid JSON (or repeats a name): restore it from your backup."
        ) from None
    if not isinstance(document, dict) or document.get("format") != KEYRING_FORMAT:
        raise KeyringError(
            f'{broken} is not a "{KEYRING_FORMAT}" keyring: check the configured path or '
            "restore the file from your backup."
        )
    active = document.get("active")
    entries = document.get("keys")
    if isinstance(active, bool) or not isinstance(active, int):
        raise KeyringError(
            f'{broken} has no integer "active" version: add one such as "active": 1.'
        )
    if not isinstance(entries, dict) or not entries:
        raise KeyringError(f'{broken} has no "keys": restore the file from your backup.')
    keys = {
        _parse_version(broken, name): _parse_key(broken, name, value)
        for name, value in entries.items()
    }
    _check_keys(keys, active, broken)
    return keys, active


def _parse_version(broken: str, name: str) -> int:
    if not _VERSION_TEXT.fullmatch(name) or int(name) > _MAX_VERSION:
        raise KeyringError(
            f"{broken} has an invalid key version {name!r}: versions must be written as "
            f"positive whole numbers up to {_MAX_VERSION}."
        )
    return int(name)


def _parse_key(broken: str, name: str, value: object) -> bytes:
    if isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True)
        except ValueError:  # binascii.Error, or non-ASCII text
            pass
    raise KeyringError(
        f"{broken} has a key for version {name} that is not valid base64 text: restore the "
        "file from your backup."
    )


def _exists_message(path: Path) -> str:
    return (
        f"Keyring file {path} already exists: refusing to overwrite it because records "
        "encrypted under it would become unreadable; move it aside yourself if you mean to."
    )
