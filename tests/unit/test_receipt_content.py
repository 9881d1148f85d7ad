"""What a receipt's digest covers (portal/contributions/receipts.py): the partner's
confirmation of each child is part of it, and a version sent before confirmations existed
canonicalises byte for byte as it did when it was signed, so its receipt still verifies."""

from __future__ import annotations

import hashlib
import json
import uuid

from portal.contributions.receipts import canonical_content
from portal.models import (
    ChildConfirmation,
    ChildKnown,
    Contribution,
    DelegationRequest,
    MatchedOn,
)

AMELIA = uuid.UUID("00000000-0000-4000-8000-00000000000a")
OLIVER = uuid.UUID("00000000-0000-4000-8000-00000000000b")
# The content as the portal wrote it before issue 17, for answers {"note": "Seen"}.
BEFORE_CONFIRMATIONS = (
    b'{"answers":{"note":"Seen"},"attachments":[],"form_template":"school-contribution",'
    b'"form_template_version":1,"format":"portal-receipt/1","request":"DR-AAAA2222","version":1}'
)


def sent() -> tuple[DelegationRequest, Contribution]:
    request = DelegationRequest(
        reference="DR-AAAA2222", form_template="school-contribution", form_template_version=1
    )
    return request, Contribution(version=1, attachments=[])


def confirmed(
    answer: ChildKnown, matched_on: MatchedOn | None, child: uuid.UUID
) -> ChildConfirmation:
    return ChildConfirmation(child_id=child, answer=answer, matched_on=matched_on)


def test_without_confirmations_the_content_is_exactly_as_before() -> None:
    request, contribution = sent()
    assert canonical_content(request, contribution, {"note": "Seen"}) == BEFORE_CONFIRMATIONS
    assert canonical_content(request, contribution, {"note": "Seen"}, []) == BEFORE_CONFIRMATIONS


def test_the_confirmations_are_covered_and_any_change_changes_the_digest() -> None:
    request, contribution = sent()
    both = [
        confirmed(ChildKnown.NOT_KNOWN, None, OLIVER),
        confirmed(ChildKnown.KNOWN, MatchedOn.UPN, AMELIA),
    ]
    content = canonical_content(request, contribution, {"note": "Seen"}, both)
    # Everything else is as it was: the confirmations are one more key.
    fields = json.loads(content)
    del fields["children"]
    assert json.dumps(fields, sort_keys=True, separators=(",", ":")).encode() == (
        BEFORE_CONFIRMATIONS
    )
    assert (
        b'"children":[{"answer":"known","child":"'
        + str(AMELIA).encode()
        + b'","matched_on":"upn"},'
        b'{"answer":"not_known","child":"' + str(OLIVER).encode() + b'","matched_on":null}]'
    ) in content
    # The order the rows come in does not matter; what they say does.
    assert canonical_content(request, contribution, {"note": "Seen"}, both[::-1]) == content
    digest = hashlib.sha256(content).digest()
    changes = [
        [both[0], confirmed(ChildKnown.KNOWN, MatchedOn.NAME_AND_DATE_OF_BIRTH, AMELIA)],
        [both[0], confirmed(ChildKnown.NOT_THIS_CHILD, None, AMELIA)],
        [confirmed(ChildKnown.NOT_THIS_CHILD, None, OLIVER), both[1]],
        [both[1]],
    ]
    for changed in changes:
        other = canonical_content(request, contribution, {"note": "Seen"}, changed)
        assert hashlib.sha256(other).digest() != digest


def test_an_awkward_organisation_name_is_normalised_and_signed_in_format_2() -> None:
    """A no-break space, a trailing space, a tab or a line break in the name: before, the
    receipt silently fell back to format 1 and named no sender."""
    from datetime import UTC, datetime

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from portal.audit.signing import CheckpointSigner
    from portal.contributions.receipts import (
        FORMAT_2,
        receipt_document,
        sign,
        signable_name,
        verify_receipt,
    )
    from portal.models import Organisation

    signer = CheckpointSigner(Ed25519PrivateKey.generate())
    for name, signed_as in [
        ("Ashby\u00a0Lane Primary ", "Ashby Lane Primary"),
        (" Ysgol\tGymraeg\n Aberystwyth", "Ysgol Gymraeg Aberystwyth"),
        ("Zoë\u200b  Academy\u2028", "Zoë Academy"),
    ]:
        request, contribution = sent()
        request.partner_organisation = Organisation(id=uuid.uuid4(), name=name)
        request.partner_organisation_id = request.partner_organisation.id
        contribution.submitted_at = datetime.now(UTC)
        sign(signer, request, contribution, {"note": "Seen"})
        document = receipt_document(request, contribution)
        assert document["format"] == FORMAT_2 and document["organisation"] == signed_as
        assert signable_name(signed_as) and verify_receipt(document, signer.public)
