"""A partner confirming the children while the council withdraws the request: one goes first,
the other is refused, and a partner who lost sees nothing of the children afterwards.

The portal runs for real (threaded, its own connections to its own PostgreSQL database), as in
test_concurrent_decisions.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from portal.crypto import FileKeyring
from portal.lifecycle import RequestStatus
from portal.models import DelegationRequest
from tests.integration.test_concurrent_decisions import (
    at_once,
    browser,
    issued_to_the_school,
    token_of,
)
from tests.support.live_portal import LiveStack, live_portal
from tests.support.world import build_world


@pytest.fixture(scope="module")
def live(
    postgres_admin: Engine, keyring: FileKeyring, keyring_path: Path, audit_key_path: Path
) -> Iterator[LiveStack]:
    with live_portal(
        postgres_admin, keyring, keyring_path, audit={"signing_key_file": str(audit_key_path)}
    ) as stack:
        yield stack


def test_a_partner_confirming_as_the_council_withdraws_never_sees_the_children_after(
    live: LiveStack, keyring: FileKeyring
) -> None:
    with live.session() as session:
        world = build_world(session, keyring)
        request = issued_to_the_school(session, keyring, world)
        session.commit()
        reference, children = request.reference, [str(c.id) for c in world.case.children]
        teacher, worker = browser(live, world.teacher.id), browser(live, world.worker.id)
    base = live.portal_url
    children_page = f"{base}/inbox/{reference}/children"
    confirming = {"csrf_token": token_of(teacher.get(children_page, timeout=10).text)}
    for child in children:
        confirming |= {f"known-{child}": "known", f"matched-{child}": "name_and_date_of_birth"}
    request_page = f"{base}/requests/{reference}"
    token = token_of(worker.get(request_page, timeout=10).text)
    withdrawing = {"csrf_token": token, "reason": "Case closed"}

    statuses = at_once(
        (teacher, children_page, confirming), (worker, f"{request_page}/revoke", withdrawing)
    )

    # Both are answered (a redirect, or "changed meanwhile"), neither half-applied.
    assert set(statuses) <= {302, 409}, statuses
    with live.session() as session:
        status = session.scalar(
            sa.select(DelegationRequest.status).where(DelegationRequest.reference == reference)
        )
    after = teacher.get(children_page, timeout=10)
    if status is RequestStatus.REVOKED:
        # Whoever lost, the partner sees nothing of the children from now on.
        assert after.status_code == 404 and "Amelia" not in after.text
    else:
        assert after.status_code == 200 and "Amelia" in after.text
        assert statuses == [302, 409]  # the withdrawal was refused: it changed meanwhile
