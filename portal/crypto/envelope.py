"""Field encryption: seal one database value under a per-record data key, bound to its cell."""

import os
import uuid
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from portal.crypto.errors import DecryptionError
from portal.crypto.keyring import KEY_SIZE, encode_parts

FORMAT_VERSION = 1
_NONCE_SIZE = 12
_TAG_SIZE = 16
_HEADER_SIZE = 1 + 16
_MIN_SEALED_SIZE = _HEADER_SIZE + _NONCE_SIZE + _TAG_SIZE
_DATA_KEY_CONTEXT_LABEL = b"portal/data-key/v1"


@dataclass(frozen=True, repr=False)
class DataKey:
    """A 32-byte AES-256 data key and the id under which its wrapped form is stored."""

    id: uuid.UUID
    key: bytes

    def __post_init__(self) -> None:
        if len(self.key) != KEY_SIZE:
            raise ValueError(f"Data keys must be exactly {KEY_SIZE} bytes long.")

    def __repr__(self) -> str:
        return f"DataKey(id={self.id!r})"


@dataclass(frozen=True)
class FieldLocation:
    """The database cell a sealed value belongs to; the ciphertext opens only there."""

    table: str
    column: str
    row_id: uuid.UUID


def data_key_context(data_key_id: uuid.UUID) -> bytes:
    """Context for ``Keyring.wrap``/``unwrap`` that binds a wrapped data key to its id."""
    return _DATA_KEY_CONTEXT_LABEL + data_key_id.bytes


def seal_field(data_key: DataKey, where: FieldLocation, plaintext: bytes) -> bytes:
    """Encrypt ``plaintext`` as: version || data key id || nonce || AES-256-GCM ciphertext+tag."""
    header = bytes([FORMAT_VERSION]) + data_key.id.bytes
    nonce = os.urandom(_NONCE_SIZE)
    sealed = AESGCM(data_key.key).encrypt(nonce, plaintext, _associated_data(header, where))
    return header + nonce + sealed


def open_field(data_key: DataKey, where: FieldLocation, sealed: bytes) -> bytes:
    """Decrypt a value from ``seal_field``; raise DecryptionError unless it authenticates."""
    refused = f"Encrypted field {where.table}.{where.column} refused"
    if len(sealed) < _MIN_SEALED_SIZE:
        raise DecryptionError(f"{refused}: the value is too short.")
    if sealed[0] != FORMAT_VERSION:
        raise DecryptionError(f"{refused}: unknown format version {sealed[0]}.")
    header = sealed[:_HEADER_SIZE]
    if header[1:] != data_key.id.bytes:
        raise DecryptionError(f"{refused}: it was sealed under a different data key.")
    nonce = sealed[_HEADER_SIZE : _HEADER_SIZE + _NONCE_SIZE]
    try:
        return AESGCM(data_key.key).decrypt(
            nonce, sealed[_HEADER_SIZE + _NONCE_SIZE :], _associated_data(header, where)
        )
    except InvalidTag:
        raise DecryptionError(
            f"{refused}: wrong key, wrong table, column or row, or tampered with."
        ) from None


def _associated_data(header: bytes, where: FieldLocation) -> bytes:
    # Binding the cell's coordinates stops a ciphertext being copied to another row, column
    # or table (e.g. swapping two children's notes) without detection.
    return header + encode_parts(
        where.table.encode("utf-8"), where.column.encode("utf-8"), where.row_id.bytes
    )
