"""The running audit log under test: `portal audit sequencer` in processes of its own, writers
committing events from other processes, and the checks that the result is one tree holding
every event exactly once, in commit order.

Writers run in processes started with "spawn" (a fresh interpreter, as a web worker is), each
with its own engine; what they committed comes back as lists of event numbers, one per
transaction, in the order the writer committed them.
"""

from __future__ import annotations

import os
import random
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from loopback.processes import ProjectProcess, portal_command, wait_until
from portal import db
from portal.audit import AuditAction, merkle
from portal.audit.chain import canonical_encoding
from portal.audit.record import NewEvent, event_fields, record_events
from portal.audit.tree_store import StoredTree
from portal.models import AuditEvent, AuditLeaf, AuditSequencerState, AuditTreeHead
from tests.conftest import TEST_SECRET_KEY


def sequencer_environment(
    database_url: str, keyring_path: Path, audit_key_path: Path, **audit: Any
) -> dict[str, str]:
    """What a `portal audit sequencer` process needs: the test settings pointed at this
    database, with `[audit]` settings from `audit` (names as in portal/settings.py)."""
    environment = {key: value for key, value in os.environ.items() if not key.startswith("PORTAL_")}
    environment |= {
        "PORTAL_ENV": "test",
        "PORTAL_DATABASE__URL": database_url,
        "PORTAL_KEYRING__PATH": str(keyring_path),
        "PORTAL_SECURITY__SECRET_KEY": TEST_SECRET_KEY,
        "PORTAL_AUDIT__SIGNING_KEY_FILE": str(audit_key_path),
        "PORTAL_AUDIT__LOG_ORIGIN": "portal.test/audit",
    }
    environment |= {f"PORTAL_AUDIT__{name.upper()}": str(value) for name, value in audit.items()}
    return environment


class SequencerProcess(ProjectProcess):
    """`portal audit sequencer`, its output (JSON log lines) in `log`."""

    def __init__(self, environment: dict[str, str], log: Path) -> None:
        super().__init__(portal_command("audit", "sequencer"), environment, log)

    @property
    def pid(self) -> int:
        return self.process.pid

    def says(self, text: str) -> bool:
        return text in self.output()

    def wait_for(self, text: str, timeout: float = 30) -> None:
        def seen() -> bool:
            if self.process.poll() is not None and not self.says(text):
                raise AssertionError(f"the sequencer stopped:\n{self.output()[-3000:]}")
            return self.says(text)

        wait_until(seen, timeout, f"the sequencer to say {text!r}")

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)


LEADING = "audit sequencer: leading"
STANDING_BY = "another process leads; standing by"


def write_events(database_url: str, writer: int, count: int, seed: int) -> list[list[int]]:
    """Commit `count` events, one to three per transaction, with short random pauses; returns
    each transaction's event numbers in commit order. Run in a process of its own."""
    engine = db.make_engine(database_url)
    chooser = random.Random(seed)  # noqa: S311 - spreading commits, not a secret
    committed: list[list[int]] = []
    written = 0
    try:
        while written < count:
            size = min(chooser.choice((1, 1, 2, 3)), count - written)
            with Session(engine) as session:
                events = [
                    NewEvent(AuditAction.DEMO_DATA_SEEDED, details={"writer": writer, "n": n})
                    for n in range(written, written + size)
                ]
                made = record_events(session, events)
                numbers = [event.seq for event in made]
                session.commit()
            committed.append(numbers)
            written += size
            time.sleep(chooser.uniform(0, 0.004))
    finally:
        engine.dispose()
    return committed


def record_backlog(engine: Engine, count: int, per_transaction: int = 1_000) -> None:
    """`count` events committed in big transactions, fast: a backlog for the sequencer."""
    for start in range(0, count, per_transaction):
        with Session(engine) as session:
            size = min(per_transaction, count - start)
            record_events(session, [NewEvent(AuditAction.DEMO_DATA_SEEDED)] * size)
            session.commit()


@dataclass(frozen=True)
class Tree:
    """The tree as stored: leaf index -> event number, and sizes."""

    leaves: list[int]
    events: int
    state_size: int

    def place(self) -> dict[int, int]:
        return {seq: index for index, seq in enumerate(self.leaves)}


def read_tree(engine: Engine) -> Tree:
    with Session(engine) as session:
        rows = session.execute(
            sa.select(AuditLeaf.leaf_index, AuditLeaf.event_seq).order_by(AuditLeaf.leaf_index)
        ).all()
        events = int(session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)) or 0)
        state = session.get(AuditSequencerState, 1)
        assert state is not None
        assert [row.leaf_index for row in rows] == list(range(len(rows))), "leaves not 0..n-1"
        return Tree([row.event_seq for row in rows], events, state.tree_size)


def wait_until_placed(engine: Engine, timeout: float = 30) -> float:
    """Seconds until every recorded event has its leaf (polled every 10 ms)."""
    started = time.monotonic()
    placed = sa.select(sa.func.count()).select_from(AuditLeaf)
    recorded = sa.select(sa.func.count()).select_from(AuditEvent)

    def all_placed() -> bool:
        with engine.connect() as connection:
            return connection.scalar(placed) == connection.scalar(recorded)

    deadline = started + timeout
    while not all_placed():
        if time.monotonic() > deadline:
            raise AssertionError(f"events still waiting after {timeout}s")
        time.sleep(0.01)
    return time.monotonic() - started


def assert_one_whole_tree(engine: Engine) -> Tree:
    """Every event in exactly one leaf, leaves 0..n-1, the bookmark at n, and the root made
    from the stored nodes equal to a root computed afresh from the events' canonical
    encodings (and to every signed head's root at its size)."""
    tree = read_tree(engine)
    assert len(tree.leaves) == len(set(tree.leaves)), "an event placed twice"
    assert len(tree.leaves) == tree.events, "an event left out"
    assert tree.state_size == len(tree.leaves)
    with Session(engine) as session:
        rows = {row.seq: row for row in session.execute(sa.select(AuditEvent.__table__)).all()}
        assert set(rows) == set(tree.leaves)
        fresh = merkle.CompactRange()
        roots: dict[int, bytes] = {0: fresh.root()}
        for seq in tree.leaves:
            fresh.append(merkle.leaf_hash(canonical_encoding(event_fields(rows[seq]))))
            roots[fresh.size] = fresh.root()
        assert StoredTree(session).root(len(tree.leaves)) == fresh.root()
        for head in session.scalars(sa.select(AuditTreeHead)):
            assert roots[head.tree_size] == head.root_hash, f"head {head.tree_size} differs"
    return tree


def assert_commit_order(tree: Tree, transactions: list[list[int]]) -> None:
    """A writer's transactions reach the tree in the order it committed them, each one's
    events side by side in the order they were recorded."""
    place = tree.place()
    previous = -1
    for numbers in transactions:
        indexes = [place[seq] for seq in numbers]
        assert indexes == list(range(indexes[0], indexes[0] + len(indexes))), "split apart"
        assert indexes[0] > previous, "out of commit order"
        previous = indexes[-1]
