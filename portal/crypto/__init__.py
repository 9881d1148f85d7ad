"""Envelope encryption for the portal: keyrings, sealed database fields and encrypted files."""

from portal.crypto.envelope import (
    FORMAT_VERSION,
    DataKey,
    FieldLocation,
    data_key_context,
    open_field,
    seal_field,
)
from portal.crypto.errors import CryptoError, DecryptionError, KeyringError
from portal.crypto.keyring import FileKeyring, Keyring, WrappedKey, new_data_key
from portal.crypto.streaming import (
    DEFAULT_CHUNK_SIZE,
    MAGIC,
    STREAM_VERSION,
    TAG_SIZE,
    StreamEncryptor,
    decrypt_stream,
    encrypt_stream,
)

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "FORMAT_VERSION",
    "MAGIC",
    "STREAM_VERSION",
    "TAG_SIZE",
    "CryptoError",
    "DataKey",
    "DecryptionError",
    "FieldLocation",
    "FileKeyring",
    "Keyring",
    "KeyringError",
    "StreamEncryptor",
    "WrappedKey",
    "data_key_context",
    "decrypt_stream",
    "encrypt_stream",
    "new_data_key",
    "open_field",
    "seal_field",
]
