"""A social worker signs in through their council's OpenID provider in a real browser, and
every page on the way meets WCAG 2.2 AA (axe-core)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy.engine import Engine

from portal.crypto import FileKeyring
from portal.demo.identity import dev_provider_config
from portal.demo.seed import seed_demo_data
from tests.support.axe import assert_accessible, violations
from tests.support.demo_identity import providers_on, runtime_keyring
from tests.support.dev_oidc import DevOidcProvider, free_port
from tests.support.live_portal import LiveStack, live_portal


@pytest.fixture(scope="module")
def demo_portal(
    postgres_admin: Engine, keyring: FileKeyring, keyring_path: Path
) -> Iterator[LiveStack]:
    """The portal with the demo's data and providers, and the development OpenID provider."""
    providers = providers_on({spec.slug: free_port() for spec, _secret in providers_on()})
    with live_portal(postgres_admin, keyring, keyring_path) as live:
        with live.session() as session, session.begin(), runtime_keyring(keyring):
            seed_demo_data(session, providers)
        config = dev_provider_config(providers, live.portal_url)
        with DevOidcProvider(config["providers"]):
            yield live


def test_a_social_worker_signs_in_by_work_email(demo_portal: LiveStack, page: Page) -> None:
    page.goto(demo_portal.portal_url + "/")
    assert_accessible(page)
    page.goto(demo_portal.portal_url + "/sign-in")
    assert_accessible(page)

    page.get_by_label("Work email address").fill("sw-1@northmoor.example")
    page.get_by_role("button", name="Continue").click()
    # The council's development provider: pick the person, as their real provider would ask.
    page.get_by_role("radio", name="Sam Okafor").check()
    page.get_by_role("button", name="Sign in").click()

    expect(page.get_by_text("Signed in as Sam Okafor")).to_be_visible()
    assert page.url.startswith(demo_portal.portal_url)
    assert_accessible(page)


def test_a_wrong_address_is_explained_accessibly(demo_portal: LiveStack, page: Page) -> None:
    page.goto(demo_portal.portal_url + "/sign-in")
    page.get_by_label("Work email address").fill("not-an-address")
    page.get_by_role("button", name="Continue").click()
    expect(page.locator(".govuk-error-summary")).to_be_visible()
    assert_accessible(page)


def test_the_accessibility_check_can_fail(page: Page) -> None:
    """A guard on the check itself: a page with known faults is caught, by rule."""
    page.set_content('<html><body><img src="data:image/png;base64,"><input></body></html>')
    rules = {violation["id"] for violation in violations(page)}
    assert {"image-alt", "label", "html-has-lang"} <= rules
    with pytest.raises(AssertionError, match="image-alt"):
        assert_accessible(page)
