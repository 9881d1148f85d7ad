"""The body the connector sends for a submitted contribution (portal/connector/payload.py
delivery_from), built from the models without a database: each child named by the CMS's person
id, with their answers, documents and the partner's confirmation, and never the portal's own
id for a child."""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict
from datetime import UTC, datetime

import pytest

from portal.connector.adapter import DeliveredChild, Delivery, Document
from portal.connector.payload import (
    AnswerForChildNotOnRequest,
    ChildrenShareAPersonId,
    ChildrenWithoutPersonId,
    delivery_from,
)
from portal.models import (
    Case,
    Child,
    ChildConfirmation,
    ChildKnown,
    Contribution,
    DelegationRequest,
    MatchedOn,
    Organisation,
    OrganisationKind,
)

REPORT = Document("report.pdf", "application/pdf", "ab" * 32, b"%PDF-")
NOTE = Document("note.txt", "text/plain", "cd" * 32, b"note")


def contribution_about(*children: Child) -> Contribution:
    request = DelegationRequest(
        id=uuid.uuid4(),
        reference="DR-7K2M9QXA",
        case=Case(cms_reference="NCC-100234"),
        partner_organisation=Organisation(name="Ashby Lane Primary", kind=OrganisationKind.SCHOOL),
        form_template="school-contribution",
        form_template_version=3,
        children=list(children),
    )
    return Contribution(
        request=request,
        version=2,
        submitted_at=datetime(2026, 11, 20, 10, 15, 30, 123456, tzinfo=UTC),
    )


def child(position: int, person_id: str | None) -> Child:
    return Child(id=uuid.uuid4(), position=position, cms_person_id=person_id)


def test_the_body_names_the_case_request_version_and_partner_and_carries_the_content() -> None:
    contribution = contribution_about()

    delivery = delivery_from(
        contribution, "contribution-x-v2", {"attendance": "92"}, [("supporting-documents", REPORT)]
    )

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
        documents=(REPORT,),
        children=(),
    )


def test_each_childs_answers_and_documents_go_under_their_person_id_in_the_familys_order() -> None:
    oliver, amelia = child(1, "P-100234-2"), child(0, "P-100234-1")
    contribution = contribution_about(oliver, amelia)
    answers = {
        "attendance": "92",
        f"known-to-school:{amelia.id}": "yes",
        f"known-to-school:{oliver.id}": "no",
        f"wellbeing:{oliver.id}": "Often tired",
    }
    confirmations = {
        amelia.id: ChildConfirmation(answer=ChildKnown.KNOWN, matched_on=MatchedOn.UPN),
        oliver.id: ChildConfirmation(answer=ChildKnown.NOT_KNOWN, matched_on=None),
    }
    documents = [("supporting-documents", REPORT), (f"child-report:{oliver.id}", NOTE)]

    delivery = delivery_from(contribution, "key", answers, documents, confirmations)

    assert delivery.answers == {"attendance": "92"}
    assert delivery.documents == (REPORT,)
    assert delivery.children == (
        DeliveredChild("P-100234-1", "known", "upn", {"known-to-school": "yes"}, ()),
        DeliveredChild(
            "P-100234-2",
            "not_known",
            None,
            {"known-to-school": "no", "wellbeing": "Often tired"},
            (NOTE,),
        ),
    )
    everything = json.dumps(asdict(delivery), default=repr)
    assert str(amelia.id) not in everything and str(oliver.id) not in everything


def test_a_request_from_before_confirmations_sends_none() -> None:
    amelia = child(0, "P-100234-1")

    delivery = delivery_from(contribution_about(amelia), "key", {}, [])

    assert delivery.children == (DeliveredChild("P-100234-1", None, None, {}, ()),)


def test_a_child_without_a_cms_person_id_stops_the_delivery() -> None:
    contribution = contribution_about(child(0, "P-102788-1"), child(1, None))

    with pytest.raises(ChildrenWithoutPersonId) as raised:
        delivery_from(contribution, "key", {}, [])

    failure = raised.value
    assert (failure.code, failure.permanent) == ("child_without_cms_person_id", True)
    assert failure.summary == (
        "child_without_cms_person_id: 1 of 2 children have no person id the CMS still lists"
    )
    assert failure.case_reference == "NCC-100234"


def test_two_children_with_one_person_id_stop_the_delivery_for_good() -> None:
    contribution = contribution_about(
        child(0, "P-100234-1"), child(1, "P-100234-2"), child(2, "P-100234-1")
    )

    with pytest.raises(ChildrenShareAPersonId) as raised:
        delivery_from(contribution, "key", {}, [])

    failure = raised.value
    assert (failure.code, failure.permanent) == ("children_share_cms_person_id", True)
    assert failure.summary == "children_share_cms_person_id: 2 of 3 children share a person id"
    assert "P-100234-1" not in failure.summary


def test_an_answer_about_a_child_the_request_does_not_name_is_never_sent() -> None:
    contribution = contribution_about(child(0, "P-100234-1"))
    stranger = uuid.uuid4()

    with pytest.raises(AnswerForChildNotOnRequest) as raised:
        delivery_from(
            contribution,
            "key",
            {f"wellbeing:{stranger}": "x"},
            [(f"child-report:{stranger}", NOTE)],
        )

    assert raised.value.summary == "answer_for_child_not_on_request: 2 answers or documents"
    assert str(stranger) not in raised.value.summary
