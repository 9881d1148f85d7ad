"""Exceptions raised by the encryption core; messages never carry key material or plaintext."""


class CryptoError(Exception):
    """Base class for every error raised by ``portal.crypto``."""


class DecryptionError(CryptoError):
    """A ciphertext was refused: wrong key, wrong binding, tampered, truncated or reordered."""


class UnknownKeyVersion(DecryptionError):
    """A data key is wrapped under a key-encryption key version this keyring does not hold.

    Unlike other refusals this can pass: during a rotation a process meets data under a new
    version before it has loaded the keyring file that holds it. Retry later; a bad tag or a
    shredded key never gets better.
    """


class KeyringError(CryptoError):
    """A keyring cannot be loaded or created; the message says what is wrong and how to fix it."""
