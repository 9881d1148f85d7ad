"""The portal scaled out as infra/ deploys it: nginx with TLS in front of two gunicorn
instances and two delivery workers on one PostgreSQL database (tests/support/topology.py).

A session started through nginx works on either instance and ends on both; the sign-in
limit is one budget across the instances, counted against the address nginx saw; each
accepted contribution reaches the CMS once, whichever worker takes it.
"""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from loopback.processes import wait_until
from portal.audit import AuditAction
from portal.lifecycle import OutboxStatus
from portal.models import AuditEvent, AuditLeaf, OutboxMessage
from tests.factories import csrf_token
from tests.support.live_portal import Browser
from tests.support.nginx import TEMPORARY_DIRECTORIES
from tests.support.topology import (
    SEQUENCERS,
    SIGN_IN_LIMIT,
    WORKERS,
    DemoCaseOutbox,
    Topology,
)

pytestmark = pytest.mark.postgres

CONTRIBUTIONS = 40
SIGNED_IN = "Signed in as Sam Okafor"


def session_cookie(browser: Browser) -> str:
    value = browser.http.cookies.get("__Host-portal-session")
    assert value, "no secure session cookie"
    return str(value)


def upstreams_for(topology: Topology, path: str) -> set[str]:
    """The gunicorn instances nginx's access log says answered `path`."""
    entries = [json.loads(line) for line in topology.nginx.access_log().splitlines()]
    return {entry["upstream"] for entry in entries if entry["path"] == path}


def test_a_session_started_through_nginx_works_on_both_instances_and_ends_on_both(
    topology: Topology,
) -> None:
    browser = topology.browser()
    assert browser.sign_in("northmoor", "sw-1").status_code == 302, topology.logs()
    cookie = session_cookie(browser)

    for instance in (0, 1):
        assert SIGNED_IN in topology.direct(instance, "GET", "/", cookie=cookie).text
    # Through nginx, the answers come from both instances, every one signed in.
    for _ in range(6):
        assert SIGNED_IN in browser.get("/requests").text
    assert upstreams_for(topology, "/requests") == {
        url.removeprefix("http://") for url in topology.instances
    }

    page = topology.direct(0, "GET", "/", cookie=cookie).text
    signed_out = topology.direct(
        0, "POST", "/sign-out", cookie=cookie, data={"csrf_token": csrf_token(page)}
    )
    assert signed_out.status_code in (200, 302), signed_out.text[:500]
    assert SIGNED_IN not in topology.direct(1, "GET", "/", cookie=cookie).text
    assert SIGNED_IN not in browser.get("/").text


def test_the_sign_in_limit_is_one_budget_across_instances_per_address_nginx_saw(
    topology: Topology,
) -> None:
    anonymous = topology.through_nginx("GET", "/sign-in")
    cookie = anonymous.cookies["__Host-portal-session"]
    attempt = {"csrf_token": csrf_token(anonymous.text), "email": "someone@nowhere.test"}

    # As nginx would forward them for a client at 192.0.2.44, alternating instances.
    answers = [
        topology.direct(
            number % 2, "POST", "/sign-in", cookie=cookie, client="192.0.2.44", data=attempt
        ).status_code
        for number in range(SIGN_IN_LIMIT + 2)
    ]
    assert answers == [400] * SIGN_IN_LIMIT + [429, 429]

    # Through nginx, a client naming a new address each time is still the address nginx saw.
    through = [
        topology.through_nginx(
            "POST",
            "/sign-in",
            data=attempt,
            cookies={"__Host-portal-session": cookie},
            headers={
                "X-Forwarded-For": f"198.51.100.{number}",
                "Referer": topology.public_url + "/sign-in",
            },
        ).status_code
        for number in range(SIGN_IN_LIMIT + 2)
    ]
    assert 429 in through, f"a forged X-Forwarded-For escaped the limit: {through}"
    refused_from = through.index(429)
    assert refused_from <= SIGN_IN_LIMIT and set(through[:refused_from]) <= {400}
    assert set(through[refused_from:]) == {429}
    keys = " ".join(topology.rate_limit_keys())
    assert "192.0.2.44" in keys and "127.0.0.1" in keys
    assert "198.51.100." not in keys


def test_each_contribution_is_delivered_once_by_one_of_two_workers(topology: Topology) -> None:
    with Session(topology.engine) as session:
        DemoCaseOutbox(session, topology.keyring, topology.files).accepted(
            CONTRIBUTIONS, documents=1
        )

    def delivered() -> bool:
        with Session(topology.engine) as session:
            waiting = session.scalar(
                sa.select(sa.func.count()).where(OutboxMessage.status != OutboxStatus.DELIVERED)
            )
        return waiting == 0

    wait_until(delivered, 60, "both workers to empty the outbox")
    records = topology.cms.records()
    assert len(records) == len({r["idempotency_key"] for r in records}) == CONTRIBUTIONS
    by_key = {r["idempotency_key"]: r["record_id"] for r in records}
    with Session(topology.engine) as session:
        rows = list(session.scalars(sa.select(OutboxMessage)))
        events = list(
            session.scalars(
                sa.select(AuditEvent).where(AuditEvent.action == AuditAction.CONTRIBUTION_DELIVERED)
            )
        )
    assert len(rows) == CONTRIBUTIONS
    for row in rows:
        # Claimed once, sent once: a second worker never took it.
        assert row.attempts == 1 and row.cms_record_id == by_key[row.idempotency_key]
    assert len(events) == len({e.object_id for e in events}) == CONTRIBUTIONS
    assert {e.details["attempt"] for e in events} == {1}
    assert {e.details["worker"] for e in events} == set(WORKERS), "both workers took a share"


def test_the_app_behind_nginx_sends_one_hsts_header_and_takes_nginx_request_id(
    topology: Topology,
) -> None:
    assert "Strict-Transport-Security" in topology.direct(0, "GET", "/sign-in").headers
    answer = topology.through_nginx("GET", "/sign-in", headers={"X-Request-Id": "client-chosen"})
    assert answer.status_code == 200
    assert answer.raw.headers.getlist("Strict-Transport-Security") == [
        "max-age=31536000; includeSubDomains"
    ]
    request_id = answer.headers["X-Request-Id"]
    assert request_id != "client-chosen" and f'"request_id":"{request_id}"' in (
        topology.nginx.access_log()
    )


def test_readiness_is_answered_by_the_instances_but_not_through_nginx(topology: Topology) -> None:
    assert "checks" in topology.direct(0, "GET", "/readyz").json()
    for path in ("/readyz", "/metrics"):
        assert topology.through_nginx("GET", path).status_code == 404


def test_one_of_two_sequencers_leads_and_every_event_the_pages_recorded_is_placed(
    topology: Topology,
) -> None:
    said = [(topology.directory / f"{name}.log").read_text() for name in SEQUENCERS]
    assert sorted("audit sequencer: leading" in text for text in said) == [False, True]
    assert any("standing by" in text for text in said)
    placed = sa.select(sa.func.count()).select_from(AuditLeaf)
    recorded = sa.select(sa.func.count()).select_from(AuditEvent)

    def all_placed() -> bool:
        with Session(topology.engine) as session:
            return session.scalar(placed) == session.scalar(recorded)

    wait_until(all_placed, 5, "every recorded event in the tree")


def test_nothing_nginx_carried_was_written_to_its_disk_and_nothing_failed(
    topology: Topology,
) -> None:
    """Last: after every test above, and a body far larger than nginx's memory buffer."""
    body = {"csrf_token": "none", "padding": "x" * 512 * 1024}
    answer = topology.through_nginx("POST", "/session/keep-alive", data=body)
    assert not topology.nginx.disk_writes()
    assert answer.status_code == 302  # anonymous: sent to sign in, whatever it carried
    for name in TEMPORARY_DIRECTORIES:
        assert not any((topology.nginx.directory / name).rglob("*")), name
    assert not topology.failures(), topology.logs()
