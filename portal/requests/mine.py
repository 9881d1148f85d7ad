"""The social worker's own requests: "My requests", a page at a time, and what needs doing."""

from __future__ import annotations

from datetime import date

from sqlalchemy.orm import Session

from portal.home import HomeSection, Link
from portal.models import User


def council_to_do(session: Session, worker: User, today: date) -> HomeSection:
    """The social worker's section of the home page. (Issue 20 helper C: the counts.)"""
    return HomeSection(
        heading="Your requests to partners",
        to_do=[],
        links=[Link("Your requests", "requests.dashboard")],
        all_done="Nothing needs your attention at the moment.",
    )
