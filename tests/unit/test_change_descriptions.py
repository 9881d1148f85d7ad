"""How a change is described to the second person (portal/onboarding/access.py): what it
changes, field by field, before and after; never a secret."""

from __future__ import annotations

import uuid
from typing import Any

from portal.models import ChangeKind, OrganisationChange
from portal.onboarding.access import Row, describe, difference


def change(kind: ChangeKind, **proposal: Any) -> OrganisationChange:
    return OrganisationChange(id=uuid.uuid4(), kind=kind, proposal=proposal)


SPEC = {
    "slug": "ashby",
    "display_name": "Ashby Lane",
    "issuer": "https://login.example/ashby",
    "client_id": "portal",
    "allowed_email_domains": ["ashby.sch.uk"],
    "require_strong_amr": True,
    "group_roles": {},
}


def test_a_new_provider_is_shown_whole_and_its_secret_never() -> None:
    new = change(ChangeKind.IDENTITY_PROVIDER, spec=SPEC, before=None, new_secret=True)
    assert describe(new) == "Add the identity provider Ashby Lane (ashby)"
    rows = difference(new)
    assert Row("Issuer", "None", "https://login.example/ashby") in rows
    assert Row("Roles from groups", "None", "None") in rows
    assert rows[-1] == Row("Client secret", "As stored", "A new one (never shown)")


def test_a_changed_provider_shows_only_what_changes() -> None:
    wider = {**SPEC, "allowed_email_domains": ["ashby.sch.uk", "evil.example"]}
    changed = change(ChangeKind.IDENTITY_PROVIDER, spec=wider, before=SPEC, new_secret=False)
    assert describe(changed) == "Change the identity provider Ashby Lane (ashby)"
    assert difference(changed) == [
        Row("Allowed email domains", "ashby.sch.uk", "ashby.sch.uk, evil.example")
    ]


def test_the_other_kinds() -> None:
    domains = change(ChangeKind.EMAIL_DOMAINS, domains=["a.sch.uk", "b.sch.uk"], before=[])
    assert difference(domains) == [Row("Email domains", "None", "a.sch.uk, b.sch.uk")]
    lead = change(ChangeKind.PARTNER_LEAD, user_id=str(uuid.uuid4()), name="Joanne Mercer")
    assert describe(lead) == "Make Joanne Mercer partner lead"
    on = change(ChangeKind.SELF_PROVISIONING, self_provisioning=True)
    assert difference(on) == [Row("Self-provisioning", "Off", "On")]
