"""Sealing and opening a record's sensitive columns under the record's own data key."""

from __future__ import annotations

import json
import uuid
from typing import Any

from sqlalchemy.orm import Session

from portal.crypto.envelope import DataKey, FieldLocation, data_key_context, open_field, seal_field
from portal.crypto.errors import DecryptionError
from portal.crypto.keyring import Keyring, WrappedKey, new_data_key
from portal.models.base import Sealed
from portal.models.keys import DataKey as DataKeyRow
from portal.security_costs import FIELD_OPEN_SECONDS, FIELD_SEAL_SECONDS


class RecordCipher:
    """Encrypts columns of `Sealed` records. One per unit of work: it caches unwrapped keys."""

    def __init__(self, keyring: Keyring, db_session: Session) -> None:
        self._keyring = keyring
        self._session = db_session
        self._keys: dict[uuid.UUID, DataKey] = {}

    def seal_text(self, record: Sealed, column: str, value: str | None) -> None:
        self._seal(record, column, None if value is None else value.encode("utf-8"))

    def open_text(self, record: Sealed, column: str) -> str | None:
        plaintext = self._open(record, column)
        return None if plaintext is None else plaintext.decode("utf-8")

    def seal_json(self, record: Sealed, column: str, value: Any) -> None:
        encoded = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        self._seal(record, column, encoded.encode("utf-8"))

    def open_json(self, record: Sealed, column: str) -> Any:
        plaintext = self._open(record, column)
        return None if plaintext is None else json.loads(plaintext)

    def _seal(self, record: Sealed, column: str, plaintext: bytes | None) -> None:
        _check_column(record, column)
        if plaintext is None:
            setattr(record, column, None)
            return
        with FIELD_SEAL_SECONDS.time():
            key = self._key_for(record, create=True)
            setattr(record, column, seal_field(key, _location(record, column), plaintext))

    def _open(self, record: Sealed, column: str) -> bytes | None:
        _check_column(record, column)
        sealed: bytes | None = getattr(record, column)
        if sealed is None:
            return None
        with FIELD_OPEN_SECONDS.time():
            key = self._key_for(record, create=False)
            return open_field(key, _location(record, column), sealed)

    def _key_for(self, record: Sealed, *, create: bool) -> DataKey:
        record.ensure_id()
        row = record.data_key
        if row is None and record.data_key_id is not None:
            row = self._session.get(DataKeyRow, record.data_key_id)
        if row is None:
            if not create:
                raise DecryptionError(f"{_table(record)} record has no data key")
            return self._create_key(record)
        if row.id in self._keys:
            return self._keys[row.id]
        if row.wrapped_key is None:
            raise DecryptionError(f"the data key of this {_table(record)} record was shredded")
        wrapped = WrappedKey(kek_version=row.kek_version, blob=row.wrapped_key)
        key = DataKey(id=row.id, key=self._keyring.unwrap(wrapped, data_key_context(row.id)))
        self._keys[row.id] = key
        return key

    def _create_key(self, record: Sealed) -> DataKey:
        key = DataKey(id=uuid.uuid4(), key=new_data_key())
        wrapped = self._keyring.wrap(key.key, data_key_context(key.id))
        row = DataKeyRow(id=key.id, kek_version=wrapped.kek_version, wrapped_key=wrapped.blob)
        self._session.add(row)
        record.data_key = row
        record.data_key_id = row.id
        self._keys[key.id] = key
        return key


def _table(record: Sealed) -> str:
    return str(getattr(type(record), "__tablename__"))  # noqa: B009 - typed as a plain attribute


def _location(record: Sealed, column: str) -> FieldLocation:
    return FieldLocation(table=_table(record), column=column, row_id=record.ensure_id())


def _check_column(record: Sealed, column: str) -> None:
    # Only *_enc columns hold ciphertext; anything else is a programming error, caught early.
    if not column.endswith("_enc") or not hasattr(type(record), column):
        raise ValueError(f"{_table(record)}.{column} is not an encrypted column")
