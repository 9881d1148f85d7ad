"""The body the connector sends for a submitted contribution (portal/connector/payload.py
delivery_from), built from the models without a database."""

from __future__ import annotations

from datetime import UTC, datetime

from portal.connector.adapter import Delivery, Document
from portal.connector.payload import delivery_from
from portal.models import Case, Contribution, DelegationRequest, Organisation, OrganisationKind


def test_the_body_names_the_case_request_version_and_partner_and_carries_the_content() -> None:
    request = DelegationRequest(
        reference="DR-7K2M9QXA",
        case=Case(cms_reference="NCC-100234"),
        partner_organisation=Organisation(name="Ashby Lane Primary", kind=OrganisationKind.SCHOOL),
        form_template="school-contribution",
        form_template_version=3,
    )
    contribution = Contribution(
        request=request,
        version=2,
        submitted_at=datetime(2026, 11, 20, 10, 15, 30, 123456, tzinfo=UTC),
    )
    document = Document("report.pdf", "application/pdf", "ab" * 32, b"%PDF-")

    delivery = delivery_from(contribution, "contribution-x-v2", {"attendance": "92"}, (document,))

    assert delivery == Delivery(
        idempotency_key="contribution-x-v2",
        case_reference="NCC-100234",
        request_reference="DR-7K2M9QXA",
        version=2,
        partner_organisation="Ashby Lane Primary",
        submitted_at="2026-11-20T10:15:30+00:00",
        form_template="school-contribution",
        form_template_version=3,
        answers={"attendance": "92"},
        documents=(document,),
    )
