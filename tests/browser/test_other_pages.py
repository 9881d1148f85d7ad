"""The pages no journey passes through, checked like every other (axe, reflow at 320 pixels,
ids used once, no markup shown as text): the identity-provider form, the signed checkpoints
and one audit event, a refused sign-in, and a server error's page with its reference; and
guards that the checks beyond axe can fail."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, Route, expect

from portal import create_app, db
from portal.auth.policy import PUBLIC, access
from tests.browser import steps
from tests.conftest import test_settings
from tests.support.axe import assert_ids_unique, assert_no_markup_as_text, assert_reflows
from tests.support.people import Person
from tests.support.portal_stack import PortalStack

People = Callable[..., Person]
PORTAL_ADMIN = ("admin-1@northmoor.example", "Hannah Byrne")


def test_the_identity_provider_pages(people: People) -> None:
    admin = people()
    steps.sign_in(admin, PORTAL_ADMIN)
    admin.hands.click(steps.menu_link(admin.page, "Identity providers"))
    admin.check()
    admin.hands.click(admin.page.get_by_role("button", name="Add an identity provider"))
    expect(admin.page.get_by_role("heading", name="Add an identity provider")).to_be_visible()
    admin.check()
    admin.page.go_back()
    admin.check()
    admin.hands.click(admin.page.locator("main table a").first)
    expect(admin.page.get_by_text("Redirect (callback) URI")).to_be_visible()
    admin.check()


def test_the_signed_checkpoints_and_an_event(people: People) -> None:
    officer = people()
    steps.sign_in(officer, steps.IG_OFFICER)
    officer.hands.click(steps.menu_link(officer.page, "Audit trail"))
    officer.check()
    officer.hands.click(
        officer.page.get_by_role("link", name="Check the trail has not been altered")
    )
    officer.check()
    officer.hands.click(officer.page.get_by_role("link", name="Signed checkpoints"))
    officer.check()
    officer.hands.click(officer.page.get_by_role("button", name="Sign a checkpoint now"))
    expect(officer.page.locator("main table tbody tr").first).to_be_visible()
    officer.check()
    officer.go("/audit/events/1")
    expect(officer.page.get_by_text("Place in the log")).to_be_visible()
    officer.check()


def test_a_refused_sign_in(people: People) -> None:
    person = people()
    # A callback the portal never started: no sign-in of this browser's is waiting for it.
    person.go("/sign-in/callback/northmoor?state=never-issued&code=anything")
    expect(person.page.get_by_role("heading", name="You have not been signed in")).to_be_visible()
    person.check()


def test_a_server_errors_page_with_its_reference(
    people: People, stack: PortalStack, keyring_path: Path
) -> None:
    """The stack cannot be made to fail on demand, so the page comes from the portal's own app
    (on the stack's database) through a route that fails, and the browser is handed that
    response, headers and all, at a portal address; its styles and scripts come from the
    stack as for any page."""
    app = create_app(
        test_settings(stack.engine.url.render_as_string(False), keyring_path),
        check_database=False,
    )

    @app.get("/test-only/explode")
    @access(PUBLIC)
    def explode() -> str:
        raise RuntimeError("a fault for the test")

    try:
        failed = app.test_client().get("/test-only/explode")
    finally:
        db.database(app).engine.dispose()
    assert failed.status_code == 500 and "quote this reference" in failed.get_data(as_text=True)
    person = people()

    def hand_over(route: Route) -> None:
        route.fulfill(status=500, headers=dict(failed.headers), body=failed.get_data())

    person.page.route(f"{stack.portal_url}/test-only/explode", hand_over)
    person.go("/test-only/explode")
    expect(person.page.get_by_text("quote this reference")).to_be_visible()
    person.check()


def test_the_checks_beyond_axe_can_fail(page: Page) -> None:
    """Guards on the checks themselves: each catches the fault it is for."""
    page.set_content('<html lang="en"><body><p style="width: 600px">wide</p></body></html>')
    with pytest.raises(AssertionError, match="608 pixels wide at 320"):
        assert_reflows(page)
    page.set_content('<html lang="en"><body><p>' + "x" * 80 + "</p></body></html>")
    with pytest.raises(AssertionError, match="pixels wide at 320: \\['p'\\]"):
        assert_reflows(page)
    page.set_content('<html><body><input id="a"><input id="a"><input id="b"></body></html>')
    with pytest.raises(AssertionError, match="repeats the ids \\['a'\\]"):
        assert_ids_unique(page)
    page.set_content(
        "<html><body><p>&lt;code&gt;9f2c&lt;/code&gt; and &lt;slug&gt;</p></body></html>"
    )
    with pytest.raises(AssertionError, match="shows markup as text: \\['<code>', '</code>'\\]"):
        assert_no_markup_as_text(page)
