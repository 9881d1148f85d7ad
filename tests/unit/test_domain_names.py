"""One rule for an e-mail domain wherever one is typed (portal/domain_names.py): adding an
organisation, its access page and an identity provider's allowed domains agree."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from portal.auth.oidc.provider_spec import ProviderSpec
from portal.domain_names import cleaned, is_domain_name
from portal.onboarding.organisations import parse_domains

CASES = [
    ("ashbylane.sch.uk", True),
    ("@Ashby-Lane.SCH.uk", True),
    ("x.org", True),
    ("-ashby.sch.uk", False),  # the provider's rule let this in
    ("ashby..sch.uk", False),  # and this
    ("ashby-.sch.uk", False),
    ("ashby.local1", False),  # the access page's rule let this in
    ("localhost", False),
    ("not a domain", False),
    (("a" * 64) + ".org", False),
]


def _provider_accepts(domain: str) -> bool:
    try:
        ProviderSpec(
            organisation="Ashby Lane",
            slug="ashby",
            display_name="Ashby",
            issuer="https://ashby.idp.test",
            client_id="portal",
            allowed_email_domains=[domain],
        )
    except ValidationError:
        return False
    return True


def _organisation_accepts(domain: str) -> bool:
    try:
        parse_domains(domain.replace(" ", "_"))  # a space separates domains there
    except ValueError:
        return False
    return True


@pytest.mark.parametrize(("given", "accepted"), CASES)
def test_every_place_accepts_and_refuses_the_same_domains(given: str, accepted: bool) -> None:
    assert is_domain_name(cleaned(given)) is accepted
    assert _provider_accepts(given) is accepted
    assert _organisation_accepts(given) is accepted
