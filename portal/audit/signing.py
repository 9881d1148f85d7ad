"""The Ed25519 key that signs audit checkpoints, kept outside the database.

Someone who can write to the database can rewrite the whole chain consistently; they cannot
sign a checkpoint for it without this key. The public key is published (GET
/.well-known/audit-checkpoint-key.pem and `portal audit public-key`) so anyone holding an export
can check it; keys retired by rotation stay trusted through `[audit] trusted_public_key_files`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from portal.private_files import PrivateFileError, read_private_file, write_new_private_file


class SigningKeyError(Exception):
    """The checkpoint signing key cannot be used; the message says what to do."""


@dataclass(frozen=True)
class PublicKey:
    key: Ed25519PublicKey

    @property
    def key_id(self) -> str:
        raw = self.key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return hashlib.sha256(raw).hexdigest()[:16]

    @property
    def pem(self) -> str:
        return self.key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode("ascii")

    def verifies(self, message: bytes, signature: bytes) -> bool:
        try:
            self.key.verify(signature, message)
        except InvalidSignature:
            return False
        return True

    @classmethod
    def from_pem(cls, pem: bytes) -> PublicKey:
        try:
            key = serialization.load_pem_public_key(pem)
        except ValueError:
            raise SigningKeyError("That is not a PEM public key.") from None
        if not isinstance(key, Ed25519PublicKey):
            raise SigningKeyError("Audit checkpoint keys are Ed25519 keys; that one is not.")
        return cls(key)


@dataclass(frozen=True)
class CheckpointSigner:
    private_key: Ed25519PrivateKey

    @property
    def public(self) -> PublicKey:
        return PublicKey(self.private_key.public_key())

    def sign(self, message: bytes) -> bytes:
        return self.private_key.sign(message)

    @classmethod
    def load(cls, path: Path) -> CheckpointSigner:
        try:
            data = read_private_file(
                path, "Audit signing key", f"portal audit create-signing-key --path {path}", 4096
            )
        except PrivateFileError as error:
            raise SigningKeyError(str(error)) from None
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except ValueError:
            raise SigningKeyError(f"{path} is not a PEM private key.") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise SigningKeyError(f"{path} is not an Ed25519 key.")
        return cls(key)

    @classmethod
    def create(cls, path: Path) -> CheckpointSigner:
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_new_private_file(path, pem)
        return cls(key)


def load_public_keys(paths: list[Path]) -> list[PublicKey]:
    keys = []
    for path in paths:
        try:
            keys.append(PublicKey.from_pem(path.read_bytes()))
        except OSError as error:
            raise SigningKeyError(f"Cannot read the public key {path}: {error.strerror}.") from None
    return keys
