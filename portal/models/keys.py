"""Wrapped data keys, and the key check that proves the keyring belongs to this database."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.orm import Mapped, mapped_column

from portal.models.base import Base, utcnow


class DataKey(Base):
    """A per-record AES-256 key, stored only wrapped by a key-encryption key from the keyring."""

    __tablename__ = "data_keys"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    # Always a registered version (a key_checks row): a database trigger refuses any other,
    # so a process still holding a retired key cannot write under it (migration 0005).
    kek_version: Mapped[int] = mapped_column(index=True)
    # None once shredded: every ciphertext under this key is then unreadable for good.
    wrapped_key: Mapped[bytes | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    shredded_at: Mapped[datetime | None]


class KeyCheck(Base):
    """A random probe wrapped under each key-encryption key version when it was registered.

    At start-up the keyring must unwrap every probe to the recorded digest, so a portal given
    another database's keyring (or a changed one) refuses to start instead of failing later.
    """

    __tablename__ = "key_checks"

    kek_version: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    wrapped_probe: Mapped[bytes]
    probe_digest: Mapped[bytes]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
