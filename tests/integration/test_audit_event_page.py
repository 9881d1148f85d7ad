"""The audit event page shows the chain's hashes as code, not as literal `<code>` tags."""

from __future__ import annotations

from flask import Flask
from sqlalchemy.orm import Session

from portal.audit import AuditAction, record_event
from portal.models import OrganisationKind, Role
from tests.factories import make_organisation, make_user
from tests.support.world import client_for


def test_the_hashes_are_shown_as_code(app: Flask, db_session: Session) -> None:
    officer = make_user(
        db_session, make_organisation(db_session, OrganisationKind.COUNCIL), Role.IG_OFFICER
    )
    event = record_event(db_session, AuditAction.DEMO_DATA_SEEDED)
    db_session.commit()

    page = client_for(app, officer).get(f"/audit/events/{event.seq}").get_data(as_text=True)

    assert "&lt;code" not in page and "&lt;/code&gt;" not in page
    for digest in (event.prev_hash.hex(), event.hash.hex()):
        assert f'<code class="portal-break">{digest}</code>' in page
