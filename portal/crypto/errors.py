"""Exceptions raised by the encryption core; messages never carry key material or plaintext."""


class CryptoError(Exception):
    """Base class for every error raised by ``portal.crypto``."""


class DecryptionError(CryptoError):
    """A ciphertext was refused: wrong key, wrong binding, tampered, truncated or reordered."""


class KeyringError(CryptoError):
    """A keyring cannot be loaded or created; the message says what is wrong and how to fix it."""
