"""The reference CMS's own storage: cases, children and received contributions in SQLite.

Each operation takes a connection of its own from a pool (one per concurrent operation), so the
store is safe to share between threads (and processes); writes run inside BEGIN IMMEDIATE so an
idempotency check and its insert are atomic, one thread of the process at a time.

A child is a row of its own (SQLite's rowid) whose person id may be missing: a CMS can list a
child on a case before it has made a person record for them. A database made before that had
the person id as the children's key; opening it upgrades the table in place.
"""

from __future__ import annotations

import json
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
    id INTEGER PRIMARY KEY,
    case_reference TEXT NOT NULL REFERENCES cases (reference),
    person_id TEXT UNIQUE,
    name TEXT NOT NULL,
    date_of_birth TEXT NOT NULL,
    nhs_number TEXT,
    upn TEXT
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
CREATE TABLE IF NOT EXISTS contribution_people (
    record_id TEXT NOT NULL REFERENCES contributions (record_id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    person_id TEXT NOT NULL,
    section TEXT NOT NULL,
    PRIMARY KEY (record_id, position),
    UNIQUE (record_id, person_id)
);
"""

# Before children could lack a person id, the person id was their key.
_UPGRADE_CHILDREN = """
ALTER TABLE children RENAME TO children_before_upgrade;
CREATE TABLE children (
    id INTEGER PRIMARY KEY,
    case_reference TEXT NOT NULL REFERENCES cases (reference),
    person_id TEXT UNIQUE,
    name TEXT NOT NULL,
    date_of_birth TEXT NOT NULL,
    nhs_number TEXT,
    upn TEXT
);
INSERT INTO children (case_reference, person_id, name, date_of_birth)
    SELECT case_reference, person_id, name, date_of_birth FROM children_before_upgrade
    ORDER BY case_reference, person_id;
DROP TABLE children_before_upgrade;
"""


@dataclass(frozen=True)
class Child:
    person_id: str | None  # None: no person record yet
    name: str
    date_of_birth: str
    # As the CMS holds them: a real CMS's data is not always checked, so neither is this.
    nhs_number: str | None = None
    upn: str | None = None


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
class PersonSection:
    """The part of a contribution about one person on the case: what was sent for them,
    without document content (the body keeps that)."""

    person_id: str
    section: dict[str, Any]


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


class PersonIdRefused(Exception):
    """A person id could not be given: `code` says why (no_such_child, person_id_taken)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


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
            _upgrade(connection)
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
            _insert_children(connection, case.reference, case.children)

    def find_case(self, reference: str) -> Case | None:
        with self._connect() as connection:
            row = connection.execute(
                "SELECT reference, team FROM cases WHERE reference = ?", (reference,)
            ).fetchone()
            if row is None:
                return None
            children = connection.execute(
                "SELECT person_id, name, date_of_birth, nhs_number, upn FROM children"
                " WHERE case_reference = ? ORDER BY id",
                (reference,),
            ).fetchall()
        return Case(row[0], row[1], tuple(Child(*child) for child in children))

    def replace_children(self, reference: str, children: tuple[Child, ...]) -> bool:
        """The CMS's users change who is on the case: a child leaves it, or is recorded under
        another person. False when there is no such case; sqlite3.IntegrityError when a person
        id is another case's child's."""
        with self._transaction() as connection:
            found = connection.execute(
                "SELECT 1 FROM cases WHERE reference = ?", (reference,)
            ).fetchone()
            if found is None:
                return False
            connection.execute("DELETE FROM children WHERE case_reference = ?", (reference,))
            _insert_children(connection, reference, children)
        return True

    def give_person_id(
        self, reference: str, name: str, date_of_birth: str, person_id: str
    ) -> Child:
        """The CMS makes a person record for a child it listed without one: the one child on
        the case with this name and date of birth and no person id gains `person_id`."""
        with self._transaction() as connection:
            waiting = connection.execute(
                "SELECT id FROM children WHERE case_reference = ? AND name = ?"
                " AND date_of_birth = ? AND person_id IS NULL",
                (reference, name, date_of_birth),
            ).fetchall()
            if len(waiting) != 1:
                raise PersonIdRefused("no_such_child")
            taken = connection.execute(
                "SELECT 1 FROM children WHERE person_id = ?", (person_id,)
            ).fetchone()
            if taken is not None:
                raise PersonIdRefused("person_id_taken")
            connection.execute(
                "UPDATE children SET person_id = ? WHERE id = ?", (person_id, waiting[0][0])
            )
            row = connection.execute(
                "SELECT person_id, name, date_of_birth, nhs_number, upn FROM children WHERE id = ?",
                (waiting[0][0],),
            ).fetchone()
        return Child(*row)

    def replayed(self, idempotency_key: str, body_sha256: str) -> Receipt | None:
        """The receipt stored under this key for this body, None when the key is new;
        IdempotencyKeyReused when it was used with another body."""
        with self._connect() as connection:
            return _stored_receipt(connection, idempotency_key, body_sha256)

    def receive_contribution(
        self,
        case_reference: str,
        idempotency_key: str,
        body_sha256: str,
        body: str,
        people: tuple[PersonSection, ...] = (),
    ) -> Receipt:
        """Store a contribution, and its part about each person, once per idempotency key;
        replay the first receipt after that."""
        with self._transaction() as connection:
            existing = _stored_receipt(connection, idempotency_key, body_sha256)
            if existing is not None:
                return existing
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
            connection.executemany(
                "INSERT INTO contribution_people VALUES (?, ?, ?, ?)",
                [
                    (record.record_id, position, person.person_id, _canonical(person.section))
                    for position, person in enumerate(people)
                ],
            )
        return Receipt(record, created=True)

    def find_contribution(self, record_id: str) -> ContributionRecord | None:
        with self._connect() as connection:
            row = connection.execute(
                f"SELECT {_RECORD_COLUMNS} FROM contributions WHERE record_id = ?",  # noqa: S608
                (record_id,),
            ).fetchone()
        return None if row is None else _record(row)

    def people_of(self, record_id: str) -> list[PersonSection]:
        """Each person's part of a record, in the order it was sent."""
        with self._connect() as connection:
            rows = connection.execute(
                "SELECT person_id, section FROM contribution_people WHERE record_id = ?"
                " ORDER BY position",
                (record_id,),
            ).fetchall()
        return [PersonSection(row[0], json.loads(row[1])) for row in rows]

    def body_of(self, record_id: str) -> dict[str, Any] | None:
        """The body a record was received with, as it was sent (for tests that check it)."""
        with self._connect() as connection:
            row = connection.execute(
                "SELECT body FROM contributions WHERE record_id = ?", (record_id,)
            ).fetchone()
        return None if row is None else dict(json.loads(row[0]))

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


def _insert_children(
    connection: sqlite3.Connection, reference: str, children: tuple[Child, ...]
) -> None:
    connection.executemany(
        "INSERT INTO children (case_reference, person_id, name, date_of_birth,"
        " nhs_number, upn) VALUES (?, ?, ?, ?, ?, ?)",
        [(reference, c.person_id, c.name, c.date_of_birth, c.nhs_number, c.upn) for c in children],
    )


def _stored_receipt(
    connection: sqlite3.Connection, idempotency_key: str, body_sha256: str
) -> Receipt | None:
    existing = connection.execute(
        f"SELECT body_sha256, {_RECORD_COLUMNS} FROM contributions"  # noqa: S608  # constant
        " WHERE idempotency_key = ?",
        (idempotency_key,),
    ).fetchone()
    if existing is None:
        return None
    if not secrets.compare_digest(existing[0], body_sha256):
        raise IdempotencyKeyReused(idempotency_key)
    return Receipt(_record(existing[1:]), created=False)


def _record(row: Any) -> ContributionRecord:
    return ContributionRecord(*row)


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _upgrade(connection: sqlite3.Connection) -> None:
    """Bring a database made by an earlier version up to this schema, in one transaction."""
    columns = {row[1] for row in connection.execute("PRAGMA table_info(children)")}
    if columns and "id" not in columns:
        connection.executescript(f"BEGIN IMMEDIATE;\n{_UPGRADE_CHILDREN}\nCOMMIT;")
