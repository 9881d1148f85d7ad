"""The figures' filters as the query string gives them: period (first and last month), kind
of organisation, organisation. Anything unreadable gets a message and the default."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date

from portal.models import OrganisationKind
from portal.pilot.figures import Filters
from portal.pilot.pages import KIND_NAMES, default_period
from portal.pilot.periods import Month, Period

OFFERED = 36  # months in the lists; the same months and no others are accepted
MONTH_NOT_LISTED = "Select a month from the list"
KIND_NOT_LISTED = "Select a kind of organisation from the list"
ORGANISATION_NOT_LISTED = "Select an organisation from the list"


@dataclass
class ReadFilters:
    filters: Filters
    errors: dict[str, str] = field(default_factory=dict)  # field name → message


def month_choices(today: date) -> list[tuple[str, str]]:
    """This month and the 35 before it, newest first: what `read_filters` accepts."""
    last = Month.of(today)
    return [(str(last.minus(n)), last.minus(n).name) for n in range(OFFERED)]


def kind_choices() -> list[tuple[str, str]]:
    return [("", "All kinds")] + [(kind.value, name) for kind, name in KIND_NAMES.items()]


def read_filters(
    args: Mapping[str, str], today: date, organisations: list[tuple[uuid.UUID, str]]
) -> ReadFilters:
    default = default_period(today)
    errors: dict[str, str] = {}
    first = _month(args, "first", default.first, today, errors)
    last = _month(args, "last", default.last, today, errors)
    if (first.year, first.month) > (last.year, last.month):
        errors["last"] = "The last month must be the same as or after the first month"
        first, last = default.first, default.last
    kind = None
    if args.get("kind"):
        try:
            kind = OrganisationKind(args["kind"])
        except ValueError:
            errors["kind"] = KIND_NOT_LISTED
        if kind is OrganisationKind.COUNCIL:
            kind, errors["kind"] = None, KIND_NOT_LISTED
    organisation_id = None
    if args.get("organisation"):
        known = {str(id_): id_ for id_, _name in organisations}
        organisation_id = known.get(args["organisation"])
        if organisation_id is None:
            errors["organisation"] = ORGANISATION_NOT_LISTED
    return ReadFilters(Filters(Period(first, last), kind, organisation_id), errors)


def _month(
    args: Mapping[str, str], name: str, default: Month, today: date, errors: dict[str, str]
) -> Month:
    text = args.get(name)
    if not text:
        return default
    month = Month.parse(text)
    if month is None or str(month) not in dict(month_choices(today)):
        errors[name] = MONTH_NOT_LISTED
        return default
    return month
