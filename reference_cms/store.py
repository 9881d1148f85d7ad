"""The reference CMS's own storage: cases, children and received contributions in SQLite.

Each operation takes a connection of its own from a pool (one per concurrent operation), so the
store is safe to share between threads (and processes); writes run inside BEGIN IMMEDIATE so an
idempotency check and its insert are atomic, one thread of the process at a time.
"""

from __future__ import annotations

import queue
import secrets
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS cases (
    reference TEXT PRIMARY KEY,
    team TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS children (
    person_id TEXT PRIMARY KEY,
    case_reference TEXT NOT NULL REFERENCES cases (reference),
    name TEXT NOT NULL,
    date_of_birth TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS contributions (
    record_id TEXT PRIMARY KEY,
    case_reference TEXT NOT NULL REFERENCES cases (reference),
    idempotency_key TEXT NOT NULL UNIQUE,
    body_sha256 TEXT NOT NULL,
    status TEXT NOT NULL,
    received_at TEXT NOT NULL,
    body TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class Child:
    person_id: str
    name: str
    date_of_birth: str


@dataclass(frozen=True)
class Case:
    reference: str
    team: str
    children: tuple[Child, ...]


@dataclass(frozen=True)
class ContributionRecord:
    record_id: str
    case_reference: str
    idempotency_key: str
    status: str
    received_at: str


@dataclass(frozen=True)
class Receipt:
    """The outcome of storing a contribution: `created` is False for an idempotent replay."""

    record: ContributionRecord
    created: bool


@dataclass(frozen=True)
class ContributionPage:
    """One page of records; `next_after` is the rowid to continue after, None on the last page."""

    records: tuple[ContributionRecord, ...]
    next_after: int | None


class IdempotencyKeyReused(Exception):
    """The idempotency key was already used with a different body."""


class CaseStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        # Connections are kept for the next operation rather than closed: closing the last
        # connection to a WAL database checkpoints it and deletes the log, which cost more than
        # the operation itself, on every request.
        self._idle: queue.SimpleQueue[sqlite3.Connection] = queue.SimpleQueue()
        self._writing = threading.Lock()
        with self._connect() as connection:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.executescript(SCHEMA)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        try:
            connection = self._idle.get_nowait()
        except queue.Empty:
            connection = sqlite3.connect(
                self.path, timeout=30, isolation_level=None, check_same_thread=False
            )
            connection.execute("PRAGMA foreign_keys=ON")
        try:
            yield connection
        finally:
            # Only a connection left with no transaction open goes back to the pool.
            if connection.in_transaction:
                connection.close()
            else:
                self._idle.put(connection)

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        # SQLite lets one writer in at a time anyway. Threads of this process queue here, and
        # each is woken as soon as the last one commits; left to SQLite, a writer that finds
        # the database locked sleeps and polls, for longer each time, behind every other.
        with self._connect() as connection, self._writing:
            connection.execute("BEGIN IMMEDIATE")
            try:
                yield connection
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")

    def has_cases(self) -> bool:
        with self._connect() as connection:
            return connection.execute("SELECT 1 FROM cases LIMIT 1").fetchone() is not None

    def add_case(self, case: Case) -> None:
        with self._transaction() as connection:
            connection.execute("INSERT INTO cases VALUES (?, ?)", (case.reference, case.team))
            connection.executemany(
                "INSERT INTO children VALUES (?, ?, ?, ?)",
                [(c.person_id, case.reference, c.name, c.date_of_birth) for c in case.children],
            )

    def find_case(self, reference: str) -> Case | None:
        with self._connect() as connection:
            row = connection.execute(
                "SELECT reference, team FROM cases WHERE reference = ?", (reference,)
            ).fetchone()
            if row is None:
                return None
            children = connection.execute(
                "SELECT person_id, name, date_of_birth FROM children"
                " WHERE case_reference = ? ORDER BY person_id",
                (reference,),
            ).fetchall()
        return Case(row[0], row[1], tuple(Child(*child) for child in children))

    def receive_contribution(
        self, case_reference: str, idempotency_key: str, body_sha256: str, body: str
    ) -> Receipt:
        """Store a contribution once per idempotency key; replay the first receipt after that."""
        with self._transaction() as connection:
            existing = connection.execute(
                f"SELECT body_sha256, {_RECORD_COLUMNS} FROM contributions"  # noqa: S608  # constant
                " WHERE idempotency_key = ?",
                (idempotency_key,),
            ).fetchone()
            if existing is not None:
                if not secrets.compare_digest(existing[0], body_sha256):
                    raise IdempotencyKeyReused(idempotency_key)
                return Receipt(_record(existing[1:]), created=False)
            record = ContributionRecord(
                record_id=f"CMS-{secrets.token_hex(8).upper()}",
                case_reference=case_reference,
                idempotency_key=idempotency_key,
                status="received",
                received_at=datetime.now(UTC).isoformat(timespec="seconds"),
            )
            connection.execute(
                "INSERT INTO contributions VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    record.record_id,
                    record.case_reference,
                    record.idempotency_key,
                    body_sha256,
                    record.status,
                    record.received_at,
                    body,
                ),
            )
        return Receipt(record, created=True)

    def find_contribution(self, record_id: str) -> ContributionRecord | None:
        with self._connect() as connection:
            row = connection.execute(
                f"SELECT {_RECORD_COLUMNS} FROM contributions WHERE record_id = ?",  # noqa: S608
                (record_id,),
            ).fetchone()
        return None if row is None else _record(row)

    def list_contributions(self) -> list[ContributionRecord]:
        return [record for _, record in self._contributions_after(0, limit=-1)]

    def page_contributions(self, after: int, limit: int) -> ContributionPage:
        """Up to `limit` records inserted after rowid `after`, oldest first."""
        rows = self._contributions_after(after, limit=limit + 1)
        more = len(rows) > limit
        return ContributionPage(
            records=tuple(record for _, record in rows[:limit]),
            next_after=rows[limit - 1][0] if more else None,
        )

    def delete_contribution(self, record_id: str) -> bool:
        """Remove a record, as if the CMS lost it; False when there was none."""
        with self._transaction() as connection:
            deleted = connection.execute(
                "DELETE FROM contributions WHERE record_id = ?", (record_id,)
            ).rowcount
        return deleted > 0

    def _contributions_after(
        self, after: int, *, limit: int
    ) -> list[tuple[int, ContributionRecord]]:
        # A negative LIMIT means no limit in SQLite.
        with self._connect() as connection:
            rows = connection.execute(
                f"SELECT rowid, {_RECORD_COLUMNS} FROM contributions"  # noqa: S608  # constant
                " WHERE rowid > ? ORDER BY rowid LIMIT ?",
                (after, limit),
            ).fetchall()
        return [(row[0], _record(row[1:])) for row in rows]


_RECORD_COLUMNS = "record_id, case_reference, idempotency_key, status, received_at"


def _record(row: Any) -> ContributionRecord:
    return ContributionRecord(*row)
