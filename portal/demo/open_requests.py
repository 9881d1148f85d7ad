"""Requests waiting for an answer when `make demo` starts, so that partners have something to
try at once: issued by the demo's social worker through the service the pages use (audited,
e-mailed). Kept apart from the seed, which the test stacks share, so that their inboxes start
empty."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.auth.login import actor_for
from portal.crypto import runtime
from portal.crypto.records import RecordCipher
from portal.demo.seed import POLICE, SCHOOLS
from portal.models import Case, DelegationRequest, Organisation, User
from portal.requests.recipients import OPEN_STATUSES
from portal.requests.services import NewRequest, issue
from portal.uk_time import uk_today

WORKER = "sw-1"
# (case, which of its children, partner, form template and version)
OPEN_REQUESTS = (
    ("NCC-100234", (0,), SCHOOLS[0], ("school-contribution", 1)),
    ("NCC-101402", (0,), SCHOOLS[0], ("school-contribution", 1)),
    ("NCC-101955", (0, 1), POLICE, ("police-information", 1)),
)
PURPOSE = "A fictional demo request: what the partner knows of the family."


def issue_demo_requests(db_session: Session) -> str:
    """Issue the demo's open requests once; a second run (or a demo with open requests
    already) changes nothing."""
    already = db_session.scalar(
        sa.select(sa.func.count())
        .select_from(DelegationRequest)
        .where(DelegationRequest.status.in_(OPEN_STATUSES))
    )
    if already:
        return f"The demo already has {already} open requests; nothing changed."
    worker = db_session.scalars(sa.select(User).where(User.subject == WORKER)).one()
    cipher = RecordCipher(runtime.keyring(), db_session)
    today = uk_today()
    for reference, positions, partner, (template, version) in OPEN_REQUESTS:
        case = db_session.scalars(sa.select(Case).where(Case.cms_reference == reference)).one()
        organisation = db_session.scalars(
            sa.select(Organisation).where(Organisation.name == partner)
        ).one()
        new = NewRequest(
            case_id=case.id,
            child_ids=tuple(case.children[position].id for position in positions),
            partner_organisation_id=organisation.id,
            named_recipient_id=None,
            form_template=template,
            form_template_version=version,
            lawful_basis="children-act-1989-s17",
            purpose=PURPOSE,
            message=None,
            due_on=today + timedelta(days=10),
            expires_on=today + timedelta(days=30),
        )
        issue(db_session, cipher, worker, actor_for(worker), new)
    return f"Issued {len(OPEN_REQUESTS)} open requests for the partners to answer."
