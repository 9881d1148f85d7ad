"""The signed-in home page: for each of the person's roles, what needs doing now.

Each capability says what its people have to do (`ToDo` lines with a count and where the list
is), and this module only gathers the sections for the roles the person holds. The counts are
the database's (one aggregate query a section): the home page never loads the lists.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from portal.models import Role, User


@dataclass(frozen=True)
class ToDo:
    """One thing to do: "3 requests to answer", linking to that list, filtered."""

    label: str  # what the count counts, plural, e.g. "requests to answer"
    count: int
    endpoint: str  # where the list is (url_for's endpoint and arguments)
    args: dict[str, Any] = field(default_factory=dict)
    urgent: bool = False  # overdue, stopped: shown as a warning while the count is not 0
    tag: str | None = None  # shown in place of the count, for a finding that is not a number


@dataclass(frozen=True)
class Link:
    text: str
    endpoint: str
    args: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class HomeSection:
    heading: str
    to_do: list[ToDo]
    links: list[Link]  # the role's main places, whatever the counts
    all_done: str  # said when every count is 0


def home_sections(session: Session, person: User, today: date) -> list[HomeSection]:
    """One section per role the person holds, in the order they would look for them."""
    sections: list[HomeSection] = []
    for roles, build in _BUILDERS:
        if person.has_role(*roles):
            sections.append(build(session, person, today))
    return sections


def _partner(session: Session, person: User, today: date) -> HomeSection:
    from portal.requests.inbox import partner_to_do

    return partner_to_do(session, person, today)


def _council(session: Session, person: User, today: date) -> HomeSection:
    from portal.requests.mine import council_to_do

    return council_to_do(session, person, today)


def _ig(session: Session, person: User, today: date) -> HomeSection:
    from portal.audit.home_section import ig_to_do

    return ig_to_do(session, person, today)


def _admin(session: Session, person: User, today: date) -> HomeSection:
    from portal.admin.services import admin_to_do

    return admin_to_do(session, person, today)


def _engagement(session: Session, person: User, today: date) -> HomeSection:
    from portal.onboarding.to_do import engagement_to_do

    return engagement_to_do(session, person, today)


_BUILDERS = (
    ((Role.PARTNER_CONTRIBUTOR, Role.PARTNER_LEAD), _partner),
    ((Role.SOCIAL_WORKER, Role.TEAM_MANAGER), _council),
    # Issue 20 helper D: the IG officer's, the partner engagement officer's and the admin's.
    ((Role.IG_OFFICER,), _ig),
    ((Role.PARTNER_ENGAGEMENT_OFFICER,), _engagement),
    ((Role.PORTAL_ADMIN,), _admin),
)
