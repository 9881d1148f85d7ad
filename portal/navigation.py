"""The service navigation: a link for each section the signed-in person's roles open.

Whether a link shows is decided by the section's own access rule, so the navigation can never
offer a page the policy would refuse.
"""

from __future__ import annotations

from typing import Any

from flask import current_app, request, url_for
from flask_login import current_user

from portal.auth.policy import rule_for

SECTIONS = (
    ("requests.dashboard", "Requests"),
    ("cases.index", "Cases"),
    ("inbox.index", "Requests"),
    ("people.index", "People"),
    ("onboarding.index", "Organisations"),
    ("changes.index", "Approvals"),
    ("admin.identity_providers", "Identity providers"),
    ("deliveries.index", "Deliveries"),
    ("audit.search", "Audit trail"),
    ("audit.case_search", "Who has seen"),
    ("pilot.index", "Pilot figures"),
)


def navigation_items() -> list[dict[str, Any]]:
    if not current_user.is_authenticated:
        return []
    items = []
    for endpoint, text in SECTIONS:
        rule = rule_for(current_app, endpoint)
        if rule is None or not rule.allows(current_user):
            continue
        href = url_for(endpoint)
        items.append({"href": href, "text": text, "active": request.path.startswith(href)})
    # Only the most specific section is current (/audit/cases is not also /audit's).
    current = max(
        (item for item in items if item["active"]),
        key=lambda item: len(str(item["href"])),
        default=None,
    )
    for item in items:
        item["active"] = item is current
    return items


def navigation_context() -> dict[str, Any]:
    """For every template (base.html draws the navigation)."""
    return {"navigation_items": navigation_items}
