"""A partner confirming the children while the council withdraws the request: one goes first,
the other is refused, and a partner who lost sees nothing of the children afterwards.

The portal runs for real (threaded, its own connections to its own PostgreSQL database), as in
test_concurrent_decisions.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
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
from tests.support.world import World, build_world


@pytest.fixture(scope="module")
def live(
    postgres_admin: Engine, keyring: FileKeyring, keyring_path: Path, audit_key_path: Path
) -> Iterator[LiveStack]:
    with live_portal(
        postgres_admin, keyring, keyring_path, audit={"signing_key_file": str(audit_key_path)}
    ) as stack:
        yield stack


@dataclass(frozen=True)
class Raced:
    """A request issued to the school, and the browsers of the people racing over it."""

    reference: str
    children: list[str]
    teacher: requests.Session
    lead: requests.Session
    worker: requests.Session
    colleague: str


@pytest.fixture(scope="module")
def world(live: LiveStack, keyring: FileKeyring) -> World:
    with live.session() as session:
        built = build_world(session, keyring)
        session.commit()
        return built


@pytest.fixture
def raced(live: LiveStack, keyring: FileKeyring, world: World) -> Raced:
    with live.session() as session:
        found = World(**{name: session.merge(value) for name, value in vars(world).items()})
        request = issued_to_the_school(session, keyring, found)
        session.commit()
        return Raced(
            request.reference,
            [str(child.id) for child in found.case.children],
            browser(live, found.teacher.id),
            browser(live, found.lead.id),
            browser(live, found.worker.id),
            str(found.colleague.id),
        )


def confirming_every_child(base: str, raced: Raced) -> tuple[str, dict[str, str]]:
    page = f"{base}/inbox/{raced.reference}/children"
    form = {"csrf_token": token_of(raced.teacher.get(page, timeout=10).text)}
    for child in raced.children:
        form |= {f"known-{child}": "known", f"matched-{child}": "name_and_date_of_birth"}
    return page, form


def test_a_partner_confirming_as_the_council_withdraws_never_sees_the_children_after(
    live: LiveStack, raced: Raced
) -> None:
    reference, teacher, worker = raced.reference, raced.teacher, raced.worker
    base = live.portal_url
    children_page, confirming = confirming_every_child(base, raced)
    request_page = f"{base}/requests/{reference}"
    token = token_of(worker.get(request_page, timeout=10).text)
    withdrawing = {"csrf_token": token, "reason": "Case closed"}

    statuses = at_once(
        (teacher, children_page, confirming), (worker, f"{request_page}/revoke", withdrawing)
    )

    # Both are answered (a redirect, "changed meanwhile", or the withdrawn page when the
    # withdrawal was in before the confirmation was read), neither half-applied.
    assert set(statuses) <= {302, 409, 410}, statuses
    with live.session() as session:
        status = session.scalar(
            sa.select(DelegationRequest.status).where(DelegationRequest.reference == reference)
        )
    after = teacher.get(children_page, timeout=10)
    if status is RequestStatus.REVOKED:
        # Whoever lost, the partner sees nothing of the children from now on: only that it
        # was withdrawn.
        assert after.status_code == 410 and "Amelia" not in after.text
        assert "This request has been withdrawn" in after.text
    else:
        assert after.status_code == 200 and "Amelia" in after.text
        assert statuses == [302, 409]  # the withdrawal was refused: it changed meanwhile


def test_a_lead_passing_the_request_on_as_a_colleague_confirms_is_answered_either_way(
    live: LiveStack, raced: Raced
) -> None:
    base = live.portal_url
    children_page, confirming = confirming_every_child(base, raced)
    request_page = f"{base}/inbox/{raced.reference}"
    routing = {
        "csrf_token": token_of(raced.lead.get(request_page, timeout=10).text),
        "colleague": raced.colleague,
    }

    statuses = at_once(
        (raced.teacher, children_page, confirming),
        (raced.lead, f"{request_page}/route", routing),
    )

    # Never a server error: each is done, or told the request changed meanwhile; or, when the
    # request was passed on before the confirmation was read, the teacher no longer sees it
    # (404, as for any request out of her sight). Recording no longer queues the two on the
    # audit chain's lock, so that order happens.
    assert statuses[1] in {302, 400, 409}, statuses
    assert statuses[0] in {302, 400, 409} or statuses == [404, 302], statuses
    assert 302 in statuses
