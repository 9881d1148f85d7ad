"""Connector drain: how fast `portal worker` processes empty an outbox of accepted
contributions into the reference CMS, with one worker and with four.

The workers are started and ready before their batch is written, and the batch is committed
in one transaction, so no worker's start-up is timed; the clock runs from the first delivery
the database records to the last (both `delivered_at`, stamped by the workers).
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Session

from bench.report import Figure
from loopback.outbox import Parties, accepted_contribution, outbox_message
from loopback.processes import WorkerProcess, wait_until
from portal.crypto.records import RecordCipher
from portal.lifecycle import OutboxStatus
from portal.models import (
    Case,
    Child,
    Contribution,
    Organisation,
    OrganisationKind,
    OrganisationStage,
    OutboxMessage,
    Role,
    RoleAssignment,
    Team,
    User,
)
from portal.settings import AttachmentSettings
from reference_cms.seed import DEMO_CASES
from reference_cms.store import Case as DemoCase

if TYPE_CHECKING:
    from bench.stack import Bench

GOAL_PER_SECOND = 200
GOAL_RATIO = 3.0
# One contribution in DOCUMENT_EVERY carries a small document, as a school's often does.
DOCUMENT_EVERY = 10
# Rows written per flush while filling (the batch is still committed once, at the end).
FLUSH_EVERY = 500
ISSUER = "https://bench.invalid"


def measure(bench: Bench) -> list[Figure]:
    outbox = _Outbox(bench)
    one = _drain(bench, outbox, workers=1)
    four = _drain(bench, outbox, workers=4)
    ratio = four / one
    note = "first to last delivery; workers started before the batch"
    return [
        Figure("connector drain, 1 worker", f"{one:.0f} contributions/s", note=note),
        Figure(
            "connector drain, 4 workers",
            f"{four:.0f} contributions/s",
            goal=f"≥ {GOAL_PER_SECOND}/s",
            met=four >= GOAL_PER_SECOND,
            note=note,
        ),
        Figure(
            "connector drain, 4/1 ratio",
            f"{ratio:.2f}",
            goal=f"≥ {GOAL_RATIO:g}",
            met=ratio >= GOAL_RATIO,
            note="the two rows above",
        ),
    ]


def _drain(bench: Bench, outbox: _Outbox, *, workers: int) -> float:
    """Deliveries per second for `workers` worker processes over a fresh batch."""
    count = bench.scale.deliveries
    processes: list[WorkerProcess] = []
    try:
        for number in range(workers):  # inside the try: a failed start stops the others
            log = bench.directory / f"drain-{workers}-worker-{number}.log"
            name = f"drain-{workers}-{number}"
            processes.append(WorkerProcess(bench.environment, log, "--name", name))
        for process in processes:
            wait_until(partial(_ready, process), timeout=60, message=f"{process.log.name}")
        bench.progress(f"connector drain: {workers} worker(s) ready; writing {count} contributions")
        since = datetime.now(UTC)
        keys = outbox.accepted(count)
        bench.progress(f"connector drain: {count} contributions committed; draining")
        first, last = _wait_for_drain(bench, since, count)
    finally:
        for process in processes:
            process.stop()
    _check_cms(bench, keys)
    # The first delivery starts the clock, so it is not counted in the rate.
    rate = (count - 1) / max((last - first).total_seconds(), 1e-6)
    bench.progress(f"connector drain: {workers} worker(s): {rate:.0f} contributions/s")
    return rate


def _ready(process: WorkerProcess) -> bool:
    return "Delivery worker" in process.output()


def _wait_for_drain(bench: Bench, since: datetime, count: int) -> tuple[datetime, datetime]:
    """The first and last delivery times once every row of the batch (the rows written since
    `since`) is delivered."""
    table = OutboxMessage.__table__
    batch = table.c.created_at >= since
    # Generous: a tenth of the goal's speed, and a minute to spare.
    deadline = time.monotonic() + 60 + 10 * count / GOAL_PER_SECOND
    reported = time.monotonic()
    while True:
        # The rows still waiting or failed, found through the status index: a cheap look.
        with bench.engine.connect() as connection:
            waiting, failed = connection.execute(
                sa.select(
                    sa.func.count().filter(table.c.status == OutboxStatus.PENDING),
                    sa.func.count().filter(table.c.status == OutboxStatus.DEAD_LETTERED),
                ).where(
                    table.c.status.in_([OutboxStatus.PENDING, OutboxStatus.DEAD_LETTERED]), batch
                )
            ).one()
        if failed:
            raise AssertionError(f"{failed} deliveries failed for good")
        if not waiting:
            break
        if time.monotonic() > deadline:
            raise AssertionError(f"the drain stopped with {waiting} deliveries waiting")
        if time.monotonic() - reported > 10:
            bench.progress(f"connector drain: {count - waiting}/{count} delivered")
            reported = time.monotonic()
        # Seldom enough to take little from the machine: the times come from the rows.
        time.sleep(0.5)
    with bench.engine.connect() as connection:
        delivered, first, last = connection.execute(
            sa.select(
                sa.func.count(),
                sa.func.min(table.c.delivered_at),
                sa.func.max(table.c.delivered_at),
            ).where(batch, table.c.status == OutboxStatus.DELIVERED)
        ).one()
    if delivered != count:
        raise AssertionError(f"{delivered} of {count} deliveries recorded")
    return first, last


def _check_cms(bench: Bench, keys: list[str]) -> None:
    """The CMS holds exactly one record for each contribution of the batch."""
    held = Counter(record["idempotency_key"] for record in bench.cms.records())
    missing = [key for key in keys if held[key] != 1]
    if missing:
        raise AssertionError(f"the CMS does not hold one record each for {len(missing)} keys")


class _Outbox:
    """A council, a school, the reference CMS's demo cases, and accepted contributions written
    the product's way: answers and names sealed under their own data keys, documents in the
    encrypted file store."""

    def __init__(self, bench: Bench) -> None:
        self.bench = bench
        self.files = AttachmentSettings(storage_directory=bench.directory / "files", scanner="none")
        suffix = uuid.uuid4().hex[:6]
        with Session(bench.engine, expire_on_commit=False) as session:
            cipher = RecordCipher(bench.keyring, session)
            council = Organisation(
                name=f"Drain Council {suffix}",
                kind=OrganisationKind.COUNCIL,
                stage=OrganisationStage.LIVE,
            )
            self.school = Organisation(
                name=f"Drain Primary {suffix}",
                kind=OrganisationKind.SCHOOL,
                stage=OrganisationStage.LIVE,
            )
            team = Team(organisation=council, name="Children in Need Team East")
            self.worker = _user(council, Role.SOCIAL_WORKER, team)
            self.lead = _user(self.school, Role.PARTNER_LEAD, None)
            session.add_all([council, self.school, team, self.worker, self.lead])
            self.cases = [_case(session, cipher, team, demo) for demo in DEMO_CASES]
            session.commit()

    def accepted(self, count: int) -> list[str]:
        """`count` accepted contributions with their outbox rows, committed together; returns
        their idempotency keys."""
        keys: list[str] = []
        with Session(self.bench.engine) as session:
            now = datetime.now(UTC)
            for start in range(0, count, FLUSH_EVERY):
                cipher = RecordCipher(self.bench.keyring, session)
                contributions = [
                    self._contribution(session, cipher, now, number)
                    for number in range(start, min(start + FLUSH_EVERY, count))
                ]
                # The outbox rows name their contributions by id only: those must exist first.
                session.flush()
                for contribution in contributions:
                    message = outbox_message(contribution)
                    session.add(message)
                    keys.append(message.idempotency_key)
                session.flush()
                session.expunge_all()
            session.commit()
        return keys

    def _contribution(
        self, session: Session, cipher: RecordCipher, now: datetime, number: int
    ) -> Contribution:
        case = self.cases[number % len(self.cases)]
        parties = Parties(case, self.school.id, self.worker.id, self.lead.id)
        documents = 1 if number % DOCUMENT_EVERY == 0 else 0
        return accepted_contribution(
            session,
            cipher,
            parties,
            now,
            documents=documents,
            keyring=self.bench.keyring,
            files=self.files,
        )


def _user(organisation: Organisation, role: Role, team: Team | None) -> User:
    subject = uuid.uuid4().hex
    user = User(
        issuer=ISSUER,
        subject=subject,
        organisation=organisation,
        team=team,
        email=f"{subject[:8]}@bench.invalid",
        display_name=f"Bench {role.value}",
    )
    user.ensure_id()
    user.role_assignments = [RoleAssignment(role=role)]
    return user


def _case(session: Session, cipher: RecordCipher, team: Team, demo: DemoCase) -> uuid.UUID:
    """The portal's copy of one of the CMS's demo cases (made once per database)."""
    found = session.scalar(sa.select(Case.id).where(Case.cms_reference == demo.reference))
    if found is not None:
        return found
    case = Case(cms_reference=demo.reference, team=team)
    case.ensure_id()
    session.add(case)
    for position, person in enumerate(demo.children):
        child = Child(case=case, position=position, cms_person_id=person.person_id)
        cipher.seal_text(child, "name_enc", person.name)
        cipher.seal_text(child, "date_of_birth_enc", person.date_of_birth)
        session.add(child)
    return case.id
