"""What the portal needs from a case management system, whichever one the council runs.

An adapter looks up a case, delivers a contribution under an idempotency key and reports a
record's status; for reconciliation it can also list the records the portal has delivered.
Failures are `CmsFailure`: transient ones are retried, permanent ones are dead-lettered.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class CmsChild:
    person_id: str | None  # None: the CMS has no person record for this child yet
    name: str
    date_of_birth: str  # ISO 8601 date, as the CMS holds it
    # As the CMS holds them, unchecked: the case directory keeps only ones that pass their check.
    nhs_number: str | None = None
    upn: str | None = None


@dataclass(frozen=True)
class CmsCase:
    reference: str
    team: str
    children: tuple[CmsChild, ...]


@dataclass(frozen=True)
class Document:
    filename: str
    content_type: str
    sha256: str  # hexadecimal
    content: bytes = field(repr=False)


@dataclass(frozen=True)
class DeliveredChild:
    """What a contribution says about one child the request names, filed under the CMS's own
    person id (never the portal's internal id for the child)."""

    person_id: str
    # The partner's confirmation (ChildKnown / MatchedOn codes); None for a request answered
    # before partners confirmed each child.
    confirmation: str | None
    matched_on: str | None
    # The answers to questions asked once per child, keyed by question id, and the documents
    # given for this child.
    answers: dict[str, Any] = field(repr=False)
    documents: tuple[Document, ...] = field(repr=False)


@dataclass(frozen=True)
class Delivery:
    """One accepted contribution, decrypted for the moment of sending. Never logged or queued.
    `answers` and `documents` are about the case as a whole; each child's are in `children`,
    in the family's order."""

    idempotency_key: str
    case_reference: str
    request_reference: str
    version: int
    partner_organisation: str
    submitted_at: str  # ISO 8601 date-time
    form_template: str
    form_template_version: int
    answers: dict[str, Any] = field(repr=False)
    documents: tuple[Document, ...] = field(repr=False)
    children: tuple[DeliveredChild, ...] = field(default=(), repr=False)


@dataclass(frozen=True)
class DeliveryReceipt:
    record_id: str
    status: str


@dataclass(frozen=True)
class CmsRecord:
    record_id: str
    idempotency_key: str
    case_reference: str
    status: str


class CmsFailure(Exception):
    """The CMS did not do what was asked. `code` and `reason` are safe to store and log: they
    never carry content. `retry_after` is the CMS's own Retry-After, in seconds."""

    def __init__(
        self,
        code: str,
        *,
        permanent: bool,
        reason: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(f"{code}: {reason}" if reason else code)
        self.code = code
        self.permanent = permanent
        self.reason = reason
        self.retry_after = retry_after

    @property
    def summary(self) -> str:
        return str(self)[:500]


class CmsAdapter(Protocol):
    def find_case(self, reference: str) -> CmsCase | None:
        """The case and its children, or None when the CMS has no such case."""

    def deliver(self, delivery: Delivery) -> DeliveryReceipt:
        """Create the contribution record once per idempotency key; a repeat returns the
        first record. Raises CmsFailure."""

    def delivery_status(self, record_id: str) -> str | None:
        """The record's status in the CMS, or None when the CMS no longer holds it."""

    def delivered_records(self) -> Iterator[CmsRecord]:
        """Every contribution record the CMS holds from this portal, for reconciliation."""
