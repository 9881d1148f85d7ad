"""Unit tests for the e-mails about an organisation rather than a request: what they hold,
where they link, and that nothing but an organisation's name can reach one."""

from __future__ import annotations

import uuid
from datetime import date

import pytest

from portal.models.notifications import NotificationKind
from portal.notifications.messages import ABOUT_ORGANISATIONS, compose_about_organisation
from portal.settings import ServiceSettings

SERVICE = ServiceSettings(base_url="https://portal.example")
ORGANISATION = uuid.UUID("6f1c1d52-7a43-4c55-9d5e-0d1b8f0b6a11")


def test_the_kinds_about_organisations_are_the_two_the_onboarding_sends() -> None:
    assert ABOUT_ORGANISATIONS == {
        NotificationKind.AGREEMENT_REVIEW_DUE,
        NotificationKind.CHANGE_AWAITING_APPROVAL,
    }


def test_an_agreement_review_names_the_organisation_and_date_and_links_to_its_page() -> None:
    message = compose_about_organisation(
        NotificationKind.AGREEMENT_REVIEW_DUE,
        ORGANISATION,
        "St Mary’s C of E (Aided) School",
        date(2027, 4, 10),
        SERVICE,
    )
    assert message.link == f"https://portal.example/organisations/{ORGANISATION}"
    assert message.reference == "St Mary’s C of E (Aided) School"
    assert "St Mary’s C of E (Aided) School" in message.subject
    assert "10 April 2027" in message.body and message.link in message.body
    assert SERVICE.council_name in message.body and SERVICE.name in message.body
    assert "$" not in message.subject + message.body


def test_a_change_awaiting_approval_names_nothing_and_links_to_the_approvals() -> None:
    message = compose_about_organisation(
        NotificationKind.CHANGE_AWAITING_APPROVAL, ORGANISATION, "Ashby Lane Primary", None, SERVICE
    )
    assert message.link == "https://portal.example/approvals"
    assert "Ashby Lane Primary" not in message.subject + message.body
    assert str(ORGANISATION) not in message.body and message.reference == ""
    assert "$" not in message.subject + message.body


@pytest.mark.parametrize(
    "name", ["Ashby\nBcc: someone@example.org", "$council", "", "<script>", "a" * 201]
)
def test_nothing_but_an_organisation_name_reaches_an_e_mail(name: str) -> None:
    with pytest.raises(ValueError, match="organisation"):
        compose_about_organisation(
            NotificationKind.AGREEMENT_REVIEW_DUE, ORGANISATION, name, date(2027, 4, 10), SERVICE
        )
