"""Cases with their children, and delegation requests in every state the lifecycle allows, at
the benchmark's volumes: written by COPY in batches, each sensitive column sealed under its
record's own data key with the product's envelope encryption, as RecordCipher seals it."""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from bench.answers import Answers
from bench.bulk import Writer, json_bytes, text
from portal.lifecycle import ContributionStatus, RequestStatus
from portal.models import ReviewDecision
from portal.requests.services import new_reference
from portal.retention.policy import retention_days
from portal.settings import RequestSettings, RetentionSettings
from portal.uk_time import UK, end_of_uk_day

BATCH = 5_000
DAY = timedelta(days=1)
# Requests are issued over two years; those of the last eight weeks are still open to partners
# (they close 60 days after issue), the older ones long closed. None in between, so that no
# request the benchmark picks lapses while it runs.
HISTORY_DAYS, CURRENT_DAYS, CLOSED_AFTER_DAYS = 730.0, 56.0, 62.0
FIRST_NAMES = (
    "Amelia Oliver Isla George Ava Noah Mia Arthur Ivy Leo Grace Oscar Freya Harry Lily Jack "
    "Rosie Charlie Evie Theo Ella Finley Poppy Alfie Sophia Archie Willow Henry Daisy Jacob "
    "Florence Alexander Sienna Teddy Phoebe Reuben Maya Muhammad Aisha Tomasz Zofia Kofi"
).split()
SURNAMES = (
    "Hart Smith Jones Taylor Brown Williams Wilson Johnson Davies Robinson Wright Thompson "
    "Evans Walker White Roberts Green Hall Wood Jackson Clarke Patel Khan Lewis James Phillips "
    "Mason Mitchell Rose Davis Rodriguez Cox Alexander Kowalski Okafor Begum Nowak Murphy"
).split()
PURPOSES = (
    "Initial child protection conference on {day}: attendance, wellbeing and any concerns.",
    "Child and family assessment due {day}: what you know of the family's circumstances.",
    "Review child protection conference on {day}: progress since the plan was made.",
    "Strategy discussion on {day}: any information held about the household.",
)
MESSAGES = (
    "Please include anything shared by the family since the last meeting.",
    "The family have moved address recently; the new school may hold little so far.",
    "Call the duty line if anything in this request is unclear.",
)
REASONS = {
    RequestStatus.REVOKED: "The case was closed after assessment; no further information needed.",
    RequestStatus.REJECTED: "This answers a different period from the one asked about.",
    RequestStatus.RETURNED: "Please add the attendance figures for the autumn term.",
}
R, C = RequestStatus, ContributionStatus
# How requests stand, by days since they were issued: (last day of the band, weights).
_CURRENT_BANDS = (
    (10.0, {R.ISSUED: 50, R.IN_PROGRESS: 30, R.SUBMITTED: 12, R.RETURNED: 3, R.DELIVERED: 3}),
    (30.0, {R.ISSUED: 10, R.IN_PROGRESS: 10, R.SUBMITTED: 15, R.RETURNED: 5, R.DELIVERED: 55}),
    (CURRENT_DAYS, {R.ISSUED: 4, R.IN_PROGRESS: 4, R.SUBMITTED: 5, R.RETURNED: 3, R.DELIVERED: 76}),
)
_CLOSED = {R.DELIVERED: 78, R.REJECTED: 5, R.REVOKED: 5, R.EXPIRED: 12}
_CURRENT_CLOSED = {R.REJECTED: 4, R.REVOKED: 4}  # added to every current band


@dataclass(frozen=True)
class Partner:
    id: uuid.UUID
    kind: str  # an OrganisationKind value
    weight: float  # its share of the requests
    people: tuple[uuid.UUID, ...]  # who drafts and submits: contributors and leads
    contributors: tuple[uuid.UUID, ...]  # who a request may be addressed to by name


@dataclass(frozen=True)
class Case:
    id: uuid.UUID
    reference: str
    team_id: uuid.UUID
    worker_id: uuid.UUID
    children: tuple[uuid.UUID, ...]


def write_cases(
    writer: Writer,
    rng: random.Random,
    teams: dict[uuid.UUID, tuple[uuid.UUID, ...]],
    opened: list[datetime],
    on_batch: Callable[[int], None],
    first_number: int = 3_000_000,  # apart from the reference CMS's own cases
) -> list[Case]:
    """A case for each opening time (when it was first copied from the CMS), with one to three
    children sealed under their own keys. Cases are numbered from `first_number`."""
    cases = []
    team_ids = sorted(teams)
    for number, created_at in enumerate(opened):
        team_id = team_ids[number % len(team_ids)]
        case_id, family = uuid.uuid4(), rng.choice(SURNAMES)
        reference = f"NCC-{first_number + number}"
        worker_id = rng.choice(teams[team_id])
        writer.add("cases", case_id, reference, team_id, worker_id, created_at)
        children = []
        for position in range(rng.choices((1, 2, 3), (55, 30, 15))[0]):
            child_id = uuid.uuid4()
            born = date(2007, 9, 1) + timedelta(days=rng.randrange(17 * 365))
            name = f"{rng.choice(FIRST_NAMES)} {family}"
            values = (("name_enc", text(name)), ("date_of_birth_enc", text(born.isoformat())))
            key_id, sealed = writer.sealer.seal("children", child_id, created_at, values)
            person = f"P-{first_number + number}-{position + 1}"
            writer.add("children", child_id, case_id, position, person, *sealed, created_at, key_id)
            children.append(child_id)
        cases.append(Case(case_id, reference, team_id, worker_id, tuple(children)))
        if len(writer.rows["cases"]) >= BATCH:
            writer.flush()
            on_batch(number + 1)
    writer.flush()
    on_batch(len(opened))
    return cases


def issue_times(rng: random.Random, count: int, now: datetime) -> list[datetime]:
    """When each request was issued, oldest first."""
    ages = []
    for _ in range(count):
        age = rng.uniform(0.01, HISTORY_DAYS)
        if CURRENT_DAYS < age < CLOSED_AFTER_DAYS:
            age = rng.uniform(CLOSED_AFTER_DAYS, HISTORY_DAYS)
        ages.append(age)
    return [now - age * DAY for age in sorted(ages, reverse=True)]


def status_for(rng: random.Random, age_days: float) -> RequestStatus:
    if age_days >= CLOSED_AFTER_DAYS:
        weights = _CLOSED
    else:
        weights = next(w for last, w in _CURRENT_BANDS if age_days <= last) | _CURRENT_CLOSED
    return rng.choices(list(weights), list(weights.values()))[0]


def shredded_at(status: RequestStatus, since: datetime | None, now: datetime) -> datetime | None:
    """When the retention job crypto-shredded the request's content, if it has by now: the
    default periods (RetentionSettings), the night after the period ran out."""
    if since is None or status not in (R.DELIVERED, R.REJECTED, R.REVOKED, R.EXPIRED):
        return None
    moment = since + retention_days(RetentionSettings(), status) * DAY + DAY
    return moment if moment < now else None


def uk_day(moment: datetime) -> date:
    return moment.astimezone(UK).date()


def request_expiry(issued_at: datetime) -> tuple[date, datetime]:
    """The default due date and closing time of a request issued then (RequestSettings)."""
    day, defaults = uk_day(issued_at), RequestSettings()
    closes = end_of_uk_day(day + timedelta(days=defaults.default_expiry_days))
    return day + timedelta(days=defaults.default_due_days), closes


def unique_reference(taken: set[str]) -> str:
    while (reference := new_reference()) in taken:
        pass
    taken.add(reference)
    return reference


def write_requests(
    writer: Writer,
    rng: random.Random,
    answers: Answers,
    plan: Sequence[tuple[datetime, Case, Partner]],
    now: datetime,
    on_batch: Callable[[int], None],
) -> None:
    """A request for each (issue time, case, partner), in the state its age makes likely, with
    the versions, reviews and CMS deliveries that state implies."""
    taken: set[str] = set()
    for number, (issued_at, case, partner) in enumerate(plan):
        status = status_for(rng, (now - issued_at) / DAY)
        _Request(writer, rng, answers, issued_at, case, partner, status, now, taken).write()
        if len(writer.rows["delegation_requests"]) >= BATCH:
            writer.flush()
            on_batch(number + 1)
    writer.flush()
    on_batch(len(plan))


# The request's row version after each outcome: one per status change (RequestStatus).
_ROW_VERSIONS = {R.ISSUED: 1, R.IN_PROGRESS: 2, R.SUBMITTED: 3, R.RETURNED: 4, R.DELIVERED: 5}
_ROW_VERSIONS |= {R.REJECTED: 4, R.REVOKED: 2, R.EXPIRED: 2}


class _Request:
    """One request's story, from issue to where it stands now."""

    def __init__(
        self,
        writer: Writer,
        rng: random.Random,
        answers: Answers,
        issued_at: datetime,
        case: Case,
        partner: Partner,
        status: RequestStatus,
        now: datetime,
        taken: set[str],
    ) -> None:
        self.writer, self.rng, self.status = writer, rng, status
        self.id, self.reference = uuid.uuid4(), unique_reference(taken)
        self.case, self.partner, self.issued_at = case, partner, issued_at
        self.template = answers.template_for(partner.kind)
        whole_family = len(case.children) == 1 or rng.random() < 0.8
        self.children = case.children if whole_family else case.children[:1]
        self.answers, self.keys = answers, [str(child) for child in self.children]
        named = partner.contributors and rng.random() < 0.15
        self.named = rng.choice(partner.contributors) if named else None
        self.author = self.named or rng.choice(partner.people)
        self.due_on, self.expires_at = request_expiry(issued_at)
        # The moments its story took, within three weeks and before now.
        span = min((now - issued_at) / DAY, 21.0) * DAY
        self.moments = sorted(issued_at + span * rng.uniform(0.05, 0.99) for _ in range(5))
        self.now = now
        self.shred: datetime | None = None

    def write(self) -> None:
        moments, status = self.moments, self.status
        closed_at = {R.REJECTED: moments[2], R.REVOKED: moments[1], R.EXPIRED: self.expires_at}
        closed = closed_at.get(status)
        retried = status == R.DELIVERED and self.rng.random() < 0.1
        delivered = moments[4] if retried else moments[2]
        self.shred = shredded_at(status, delivered if status == R.DELIVERED else closed, self.now)
        self._contributions(retried)
        message = self.rng.choice(MESSAGES) if self.rng.random() < 0.4 else None
        purpose = self.rng.choice(PURPOSES).format(day=self.due_on.strftime("%-d %B %Y"))
        values = [("purpose_enc", text(purpose)), ("message_enc", text(message))]
        values.append(("closing_reason_enc", text(REASONS.get(status) if closed else None)))
        key_id, sealed = self.writer.sealer.seal(
            "delegation_requests", self.id, self.issued_at, values
        )
        row_version = _ROW_VERSIONS[status] + 2 * retried + (self.shred is not None)
        updated_at = self.shred or closed or (moments[-1] if status != R.ISSUED else self.issued_at)
        self.writer.add(
            "delegation_requests",
            *(self.id, self.reference, self.case.id, self.partner.id, self.named),
            *(
                self.case.worker_id,
                self.template.id,
                self.template.version,
                _lawful_basis(self.rng),
            ),
            *(sealed[0], sealed[1], status.value, self.due_on, self.expires_at, self.issued_at),
            *(closed, sealed[2], self.shred, row_version, key_id, self.issued_at, updated_at),
        )
        for child_id in self.children:
            self.writer.add("request_children", self.id, child_id)

    def _contributions(self, retried: bool) -> None:
        status, moments = self.status, self.moments
        if status == R.IN_PROGRESS:
            self._version(1, C.DRAFT, None)
        elif status == R.SUBMITTED:
            self._version(1, C.SUBMITTED, moments[1])
        elif status in (R.RETURNED, R.REJECTED) or retried:
            decision = ReviewDecision.REJECTED if status == R.REJECTED else ReviewDecision.RETURNED
            first = self._version(1, C(decision.value), moments[1])
            self._review(first, decision, moments[2])
        if status == R.DELIVERED:
            version, sent = (2, moments[3]) if retried else (1, moments[1])
            delivered = moments[4] if retried else moments[2]
            accepted = sent + (delivered - sent) * 0.8
            record = f"MOS-{self.rng.randrange(10**8):08d}"
            last = self._version(version, C.DELIVERED, sent, delivered, record)
            self._review(last, ReviewDecision.ACCEPTED, accepted)
            self.writer.add(
                "outbox",
                *(uuid.uuid4(), last, f"contribution-{last}-v{version}", "delivered", 1),
                *(accepted, record, accepted, delivered),
            )

    def _version(
        self,
        version: int,
        status: ContributionStatus,
        submitted_at: datetime | None,
        delivered_at: datetime | None = None,
        record: str | None = None,
    ) -> uuid.UUID:
        contribution_id, started = uuid.uuid4(), self.moments[0]
        drafted = status == C.DRAFT
        answers = (self.answers.draft if drafted else self.answers.final)(self.template, self.keys)
        values = [("answers_enc", json_bytes(answers))]
        sealer = self.writer.sealer
        key_id, (sealed,) = sealer.seal(
            "contributions", contribution_id, started, values, self.shred
        )
        self.writer.add(
            "contributions",
            *(contribution_id, self.id, version, status.value, sealed, self.author),
            *(self.author if submitted_at else None, submitted_at, record, delivered_at, 1),
            *(key_id, started, delivered_at or submitted_at or started),
        )
        return contribution_id

    def _review(self, contribution_id: uuid.UUID, decision: ReviewDecision, at: datetime) -> None:
        review_id = uuid.uuid4()
        reason = None if decision == ReviewDecision.ACCEPTED else REASONS[R(decision.value)]
        values = [("reason_enc", text(reason))]
        key_id, (sealed,) = self.writer.sealer.seal("reviews", review_id, at, values, self.shred)
        returned = decision == ReviewDecision.RETURNED
        sections = json.dumps([self.template.sections[0].id] if returned else [])
        new_due_on = uk_day(at) + timedelta(days=7) if returned else None
        if new_due_on is not None:
            self.due_on = new_due_on
        self.writer.add(
            "reviews",
            *(review_id, contribution_id, self.case.worker_id, decision.value, sealed),
            *(sections, new_due_on, at, key_id),
        )


def _lawful_basis(rng: random.Random) -> str:
    codes = ("children-act-1989-s17", "children-act-1989-s47", "children-act-2004-s11")
    return rng.choices(codes, (45, 40, 15))[0]
