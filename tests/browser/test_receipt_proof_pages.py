"""The public check's verdict on a receipt with its proof (portal/receipts/proof_check.py), in
a real browser, checked like every page (axe, reflow at 320 pixels, ids used once, no markup
shown as text): proven in the council's audit log, and not.

A proven verdict needs a witnessed checkpoint in the stack's database, which the stack's
sequencer makes on its own time; so, as for the server error's page, the verdicts come from
the portal's own app and template (verdicts made here), handed to the browser at a portal
address, headers and all; styles and scripts come from the stack as for any page. What the
verdicts say for real bundles is tests/integration/test_receipt_proofs.py's."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from flask import render_template
from playwright.sync_api import Route, expect

from portal import create_app, db
from portal.auth.policy import PUBLIC, access
from portal.contributions.receipts import Sender
from portal.receipts.check import Receipt, Verdict
from portal.receipts.proof_check import LogVerdict
from tests.conftest import test_settings
from tests.support.people import Person
from tests.support.portal_stack import PortalStack

People = Callable[..., Person]
RECEIPT = Receipt(
    request="DR-7KQ2M9XA",
    version=1,
    submitted_at=datetime(2026, 12, 5, 20, 36, 4, 667995, UTC),
    sha256="5e89f3ac358168dd7bcfd80adc92ea700a3f57afddcaf15aa0caa14636d25360",
    key_id="c294649a23d27e43",
    signature="00" * 64,
    sender=Sender(str(uuid.UUID(int=7)), "Ashby Lane Primary"),
)
VERDICTS = {
    "proven": LogVerdict(
        leaf_index=41,
        size=57,
        key_id="c294649a23d27e43",
        stamped_at=datetime(2026, 12, 5, 20, 37, 12, tzinfo=UTC),
        latest_size=90,
    ),
    "not proven": LogVerdict(
        leaf_index=41,
        problem="The council’s newest witnessed checkpoint (90 entries) is not consistent "
        "with this one: entries before it were removed or changed.",
        size=57,
        key_id="c294649a23d27e43",
        latest_size=90,
    ),
}
SAYS = {
    "proven": "It is in the council’s audit log",
    "not proven": "It is not proven to be in the council’s audit log",
}


@pytest.mark.parametrize("which", VERDICTS)
def test_the_verdict_on_a_receipt_with_its_proof(
    people: People, stack: PortalStack, keyring_path: Path, which: str
) -> None:
    app = create_app(
        test_settings(stack.engine.url.render_as_string(False), keyring_path),
        check_database=False,
    )

    @app.get("/test-only/proof-verdict")
    @access(PUBLIC)
    def verdict() -> str:
        return render_template(
            "receipts/verify.html",
            verdict=Verdict(RECEIPT, True, None, None),
            in_log=VERDICTS[which],
            errors={},
            content_from_pdf=False,
            content_file="content.json",
        )

    try:
        shown = app.test_client().get("/test-only/proof-verdict")
    finally:
        db.database(app).engine.dispose()
    assert shown.status_code == 200
    person = people()

    def hand_over(route: Route) -> None:
        route.fulfill(status=200, headers=dict(shown.headers), body=shown.get_data())

    person.page.route(f"{stack.portal_url}/test-only/proof-verdict", hand_over)
    person.go("/test-only/proof-verdict")
    expect(person.page.get_by_role("heading", name=SAYS[which])).to_be_visible()
    expect(person.page.locator("#in-log")).to_contain_text(
        "entry 41" if which == "proven" else "not consistent"
    )
    person.check()
