"""What the pilot's figures are about: the groupings, the steps timed, the filters, and the
figures of one group (docs/pilot.md defines each)."""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass, field

from portal.models import OrganisationKind
from portal.pilot.periods import Period


class Grouping(enum.StrEnum):
    TOTAL = "total"
    MONTH = "month"
    ORGANISATION = "organisation"
    KIND = "kind"


class Step(enum.StrEnum):
    """The steps whose time from issue is measured."""

    OPENED = "opened"
    SENT = "sent"
    ACCEPTED = "accepted"
    DELIVERED = "delivered"


# The quantiles, as integer fractions: positions are computed without floating point.
MEDIAN = (1, 2)
NINETIETH = (9, 10)

GROUPINGS = tuple(Grouping)
STEPS = tuple(Step)
# A group's number: its grouping's position × SPAN + its number within the grouping (a
# month's, an organisation's or a kind's). The figures' sorts compare one integer, not text:
# several times faster at the bench's volumes (docs/pilot.md).
SPAN = 10_000_000


@dataclass(frozen=True)
class Filters:
    period: Period
    kind: OrganisationKind | None = None
    organisation_id: uuid.UUID | None = None


@dataclass(frozen=True)
class Times:
    """Seconds from issue to a step: over `measured` requests that reached it."""

    measured: int
    median: float
    ninetieth: float


@dataclass
class Row:
    """The figures for one group: a month, an organisation, a kind, or all of them."""

    key: str
    kind: str = ""
    issued: int = 0
    opened: int = 0
    answered: int = 0
    returned: int = 0  # requests returned for more information at least once
    returns: int = 0  # every return, for returns per request
    accepted: int = 0
    rejected: int = 0
    withdrawn: int = 0  # excluding those answered outside the portal
    not_this_child: int = 0
    answered_elsewhere: int = 0
    answered_both_ways: int = 0  # a version sent, and later recorded as answered elsewhere
    answered_by_due: int = 0
    due_or_answered: int = 0  # the share answered by the due date's denominator
    active_organisations: int = 0
    active_people: int = 0
    responses: int = 0
    satisfied: int = 0
    times: dict[Step, Times] = field(default_factory=dict)

    @property
    def completed(self) -> int:
        return self.answered + self.not_this_child

    @property
    def answered_only_in_portal(self) -> int:
        return self.answered - self.answered_both_ways

    @property
    def answered_either_way(self) -> int:
        return self.answered + self.answered_elsewhere - self.answered_both_ways


COUNTED = (
    "issued",
    "opened",
    "answered",
    "returned",
    "returns",
    "accepted",
    "rejected",
    "withdrawn",
    "not_this_child",
    "answered_elsewhere",
    "answered_both_ways",
    "answered_by_due",
    "due_or_answered",
    "active_organisations",
    "active_people",
    "responses",
    "satisfied",
)
