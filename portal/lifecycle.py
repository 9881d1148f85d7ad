"""The life cycles of a delegation request, a contribution and a CMS delivery: one place for
every allowed status change. Anything not listed here is refused with `TransitionRefused`."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Generic, Protocol, TypeVar


class DomainError(Exception):
    """A business rule refused the action; the message is safe to show to the user."""


class TransitionRefused(DomainError):
    def __init__(self, kind: str, current: enum.Enum, target: enum.Enum) -> None:
        super().__init__(f"A {kind} cannot go from {current.value} to {target.value}.")
        self.kind = kind
        self.current = current
        self.target = target


class RequestStatus(enum.StrEnum):
    ISSUED = "issued"  # sent to the partner, nothing drafted yet
    IN_PROGRESS = "in_progress"  # the partner has saved a draft
    SUBMITTED = "submitted"  # awaiting the social worker's review
    RETURNED = "returned"  # returned to the partner for more information
    ACCEPTED = "accepted"  # accepted; waiting to reach the CMS
    DELIVERED = "delivered"  # the accepted contribution is in the CMS
    REJECTED = "rejected"
    REVOKED = "revoked"
    EXPIRED = "expired"
    # The partner knows none of the children it names: closed, nothing shared.
    CHILD_NOT_KNOWN = "child_not_known"


class ContributionStatus(enum.StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    RETURNED = "returned"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    DELIVERED = "delivered"
    DISCARDED = "discarded"  # a draft destroyed on revocation or expiry


class OutboxStatus(enum.StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    DEAD_LETTERED = "dead_lettered"
    CANCELLED = "cancelled"


S = TypeVar("S", bound=enum.Enum)

_R = RequestStatus
_C = ContributionStatus
_O = OutboxStatus

# A request can be withdrawn (revoked) or lapse (expired) at any point before a decision.
_OPEN_REQUEST_ENDS = {_R.REVOKED, _R.EXPIRED}

REQUEST_TRANSITIONS: Mapping[RequestStatus, frozenset[RequestStatus]] = {
    # The partner says it knows none of the children before anything is sent.
    _R.ISSUED: frozenset({_R.IN_PROGRESS, _R.SUBMITTED, _R.CHILD_NOT_KNOWN, *_OPEN_REQUEST_ENDS}),
    _R.IN_PROGRESS: frozenset({_R.SUBMITTED, _R.CHILD_NOT_KNOWN, *_OPEN_REQUEST_ENDS}),
    _R.SUBMITTED: frozenset({_R.RETURNED, _R.ACCEPTED, _R.REJECTED, _R.REVOKED}),
    _R.RETURNED: frozenset({_R.IN_PROGRESS, _R.SUBMITTED, *_OPEN_REQUEST_ENDS}),
    _R.ACCEPTED: frozenset({_R.DELIVERED}),
    _R.DELIVERED: frozenset(),
    _R.REJECTED: frozenset(),
    _R.REVOKED: frozenset(),
    _R.EXPIRED: frozenset(),
    _R.CHILD_NOT_KNOWN: frozenset(),
}

CONTRIBUTION_TRANSITIONS: Mapping[ContributionStatus, frozenset[ContributionStatus]] = {
    _C.DRAFT: frozenset({_C.SUBMITTED, _C.DISCARDED}),
    _C.SUBMITTED: frozenset({_C.RETURNED, _C.ACCEPTED, _C.REJECTED}),
    _C.RETURNED: frozenset(),  # the partner answers with a new version
    _C.ACCEPTED: frozenset({_C.DELIVERED}),
    _C.REJECTED: frozenset(),
    _C.DELIVERED: frozenset(),
    _C.DISCARDED: frozenset(),
}

OUTBOX_TRANSITIONS: Mapping[OutboxStatus, frozenset[OutboxStatus]] = {
    _O.PENDING: frozenset({_O.DELIVERED, _O.DEAD_LETTERED}),
    # An admin retries or cancels a dead letter. An earlier attempt's success can still arrive
    # afterwards (its worker's lease had run out): the CMS holds the record, so it is recorded.
    _O.DEAD_LETTERED: frozenset({_O.PENDING, _O.CANCELLED, _O.DELIVERED}),
    _O.DELIVERED: frozenset(),
    _O.CANCELLED: frozenset({_O.DELIVERED}),
}


class _HasStatus(Protocol[S]):
    status: S


class Lifecycle(Generic[S]):
    """The allowed transitions of one kind of thing."""

    def __init__(self, kind: str, transitions: Mapping[S, frozenset[S]]) -> None:
        self.kind = kind
        self.transitions = transitions

    def allows(self, current: S, target: S) -> bool:
        return target in self.transitions[current]

    def check(self, current: S, target: S) -> None:
        if not self.allows(current, target):
            raise TransitionRefused(self.kind, current, target)

    def move(self, thing: _HasStatus[S], target: S) -> None:
        """Set `thing.status` to `target`, or raise TransitionRefused and leave it unchanged."""
        self.check(thing.status, target)
        thing.status = target

    def is_final(self, status: S) -> bool:
        return not self.transitions[status]


REQUEST_LIFECYCLE = Lifecycle("delegation request", REQUEST_TRANSITIONS)
CONTRIBUTION_LIFECYCLE = Lifecycle("contribution", CONTRIBUTION_TRANSITIONS)
OUTBOX_LIFECYCLE = Lifecycle("CMS delivery", OUTBOX_TRANSITIONS)
