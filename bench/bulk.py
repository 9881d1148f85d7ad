"""Writing generated rows in bulk: COPY batches in foreign-key order, and sensitive columns
sealed under each record's own data key with the product's envelope encryption (portal.crypto),
exactly as RecordCipher seals them one record at a time."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql

from portal.crypto import DataKey, FieldLocation, Keyring, data_key_context, seal_field
from portal.crypto.keyring import new_data_key

COLUMNS = {
    "data_keys": ("id", "kek_version", "wrapped_key", "created_at", "shredded_at"),
    "cases": ("id", "cms_reference", "team_id", "allocated_worker_id", "created_at"),
    "children": (
        *("id", "case_id", "position", "cms_person_id", "name_enc", "date_of_birth_enc"),
        *("created_at", "data_key_id"),
    ),
    "delegation_requests": (
        *("id", "reference", "case_id", "partner_organisation_id", "named_recipient_id"),
        *("requested_by_id", "form_template", "form_template_version", "lawful_basis"),
        *("purpose_enc", "message_enc", "status", "due_on", "expires_at", "issued_at"),
        *("closed_at", "closing_reason_enc", "content_shredded_at", "row_version"),
        *("data_key_id", "created_at", "updated_at"),
    ),
    "request_children": ("request_id", "child_id"),
    "contributions": (
        *("id", "request_id", "version", "status", "answers_enc", "created_by_id"),
        *("submitted_by_id", "submitted_at", "cms_record_id", "delivered_at", "row_version"),
        *("data_key_id", "created_at", "updated_at"),
    ),
    "reviews": (
        *("id", "contribution_id", "reviewer_id", "decision", "reason_enc"),
        *("sections_to_revisit", "new_due_on", "decided_at", "data_key_id"),
    ),
    "outbox": (
        *("id", "contribution_id", "idempotency_key", "status", "attempts"),
        *("next_attempt_at", "cms_record_id", "created_at", "delivered_at"),
    ),
}


class Sealer:
    """Seals a record's columns under a new data key of its own, as RecordCipher does, and
    keeps each key's row (wrapped by the keyring) to be written before the record."""

    def __init__(self, keyring: Keyring) -> None:
        self._keyring = keyring
        self.key_rows: list[tuple[Any, ...]] = []

    def seal(
        self,
        table: str,
        row_id: uuid.UUID,
        at: datetime,
        values: Sequence[tuple[str, bytes | None]],
        shredded_at: datetime | None = None,
    ) -> tuple[uuid.UUID | None, list[bytes | None]]:
        if all(plain is None for _, plain in values):
            return None, [None] * len(values)  # RecordCipher makes no key for nothing
        key = DataKey(id=uuid.uuid4(), key=new_data_key())
        # A shredded key's row keeps no key at all (portal.crypto.shredding).
        wrapped = None if shredded_at else self._keyring.wrap(key.key, data_key_context(key.id))
        version = wrapped.kek_version if wrapped else self._keyring.active_version
        self.key_rows.append((key.id, version, wrapped and wrapped.blob, at, shredded_at))
        sealed = [
            None if plain is None else seal_field(key, FieldLocation(table, column, row_id), plain)
            for column, plain in values
        ]
        return key.id, sealed


def text(value: str | None) -> bytes | None:
    return None if value is None else value.encode("utf-8")


def json_bytes(value: Any) -> bytes:
    # RecordCipher.seal_json's encoding.
    encoded = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return encoded.encode("utf-8")


class Writer:
    """Rows for several tables, written by COPY in foreign-key order, a transaction a batch."""

    def __init__(self, connection: psycopg.Connection[Any], sealer: Sealer, *tables: str) -> None:
        self.connection = connection
        self.sealer = sealer
        self.rows: dict[str, list[tuple[Any, ...]]] = {table: [] for table in tables}
        self.counts = dict.fromkeys(("data_keys", *tables), 0)

    def add(self, table: str, *row: Any) -> None:
        self.rows[table].append(row)

    def flush(self) -> None:
        pending = {"data_keys": self.sealer.key_rows, **self.rows}
        with self.connection.cursor() as cursor:
            for table, rows in pending.items():
                statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
                    sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, COLUMNS[table]))
                )
                with cursor.copy(statement) as copy:
                    for row in rows:
                        copy.write_row(row)
                self.counts[table] += len(rows)
                rows.clear()
        self.connection.commit()
