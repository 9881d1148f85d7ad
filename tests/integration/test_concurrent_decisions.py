"""Two tabs sending at once make one version; two reviewers deciding at once make one decision.

The portal runs for real (threaded, its own connections to its own PostgreSQL database), and
two browsers press the button at the same moment.
"""

from __future__ import annotations

import re
import secrets
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from portal.auth.login import actor_for
from portal.auth.sessions import token_hash
from portal.crypto import FileKeyring
from portal.crypto.records import RecordCipher
from portal.lifecycle import ContributionStatus
from portal.models import Contribution, DelegationRequest, OutboxMessage, Review, WebSession
from portal.requests import services
from tests.integration.test_contributions import TEMPLATE, section_form
from tests.support.confirming import confirmed_in_database
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


def browser(live: LiveStack, user_id: uuid.UUID) -> requests.Session:
    """A browser with a real server-side session for the user."""
    token = secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    with live.session() as session, session.begin():
        session.add(
            WebSession(
                token_hash=token_hash(token),
                user_id=user_id,
                created_at=now,
                last_seen_at=now,
                expires_at=now + timedelta(hours=1),
                data={"_user_id": str(user_id), "_fresh": True},
            )
        )
    http = requests.Session()
    http.cookies.set("portal-session", token)
    return http


def token_of(page: str) -> str:
    found = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
    assert found
    return found.group(1)


def at_once(*calls: tuple[requests.Session, str, Any]) -> list[int]:
    barrier = threading.Barrier(len(calls))
    statuses: list[int] = [0] * len(calls)

    def press(index: int, http: requests.Session, url: str, data: dict[str, str]) -> None:
        barrier.wait()
        statuses[index] = http.post(url, data=data, allow_redirects=False, timeout=30).status_code

    threads = [threading.Thread(target=press, args=(i, *call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return sorted(statuses)


def issued_to_the_school(session: Session, keyring: FileKeyring, world: World) -> DelegationRequest:
    """A request to the world's school about both children, issued as the service does."""
    return services.issue(
        session,
        RecordCipher(keyring, session),
        world.worker,
        actor_for(world.worker),
        services.NewRequest(
            case_id=world.case.id,
            child_ids=tuple(child.id for child in world.case.children),
            partner_organisation_id=world.school.id,
            named_recipient_id=None,
            form_template="school-contribution",
            form_template_version=1,
            lawful_basis="children-act-1989-s47",
            purpose="Conference",
            message=None,
            due_on=date.today() + timedelta(days=5),
            expires_on=date.today() + timedelta(days=20),
        ),
    )


def test_sending_twice_at_once_makes_one_version_and_deciding_twice_one_decision(
    live: LiveStack, keyring: FileKeyring
) -> None:
    with live.session() as session:
        world: World = build_world(session, keyring)
        request = issued_to_the_school(session, keyring, world)
        confirmed_in_database(session, request, world.teacher)
        session.commit()
        reference = request.reference
        children = [str(child.id) for child in world.case.children]
        teacher, worker = world.teacher.id, world.worker.id

    base = live.portal_url
    tab = browser(live, teacher)
    for section in TEMPLATE.sections:
        url = f"{base}/inbox/{reference}/answer/{section.id}"
        form = section_form(token_of(tab.get(url, timeout=10).text), section, children, "continue")
        saved = tab.post(url, data=list(form.items(multi=True)), allow_redirects=False, timeout=10)
        assert saved.status_code == 302, saved.text[:500]
    other_tab = requests.Session()
    other_tab.cookies.update(tab.cookies)
    first_part = TEMPLATE.sections[0]
    url = f"{base}/inbox/{reference}/answer/{first_part.id}"
    form = section_form(token_of(tab.get(url, timeout=10).text), first_part, children, "later")
    saving = list(form.items(multi=True))
    # Saving the same part in two tabs at once: each is saved, or told it changed (409).
    statuses = at_once((tab, url, saving), (other_tab, url, saving))
    assert set(statuses) <= {302, 409}, statuses
    token = token_of(tab.get(f"{base}/inbox/{reference}/answer/check", timeout=10).text)
    submit = f"{base}/inbox/{reference}/answer/submit"
    data = {"csrf_token": token, "declaration": "yes"}
    assert at_once((tab, submit, data), (other_tab, submit, data)) == [302, 409]

    first, second = browser(live, worker), browser(live, worker)
    review = f"{base}/requests/{reference}/versions/1"
    tokens = [token_of(b.get(review, timeout=10).text) for b in (first, second)]
    decision = f"{review}/decision"
    statuses = at_once(
        (first, decision, {"csrf_token": tokens[0], "decision": "accepted"}),
        (second, decision, {"csrf_token": tokens[1], "decision": "rejected", "reason": "No"}),
    )
    assert statuses == [302, 409]

    with live.session() as session:
        versions = session.scalars(sa.select(Contribution)).all()
        assert len(versions) == 1 and versions[0].status != ContributionStatus.DRAFT
        assert session.scalar(sa.select(sa.func.count()).select_from(Review)) == 1
        outbox = session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage))
        accepted = versions[0].status == ContributionStatus.ACCEPTED
        assert outbox == (1 if accepted else 0)
