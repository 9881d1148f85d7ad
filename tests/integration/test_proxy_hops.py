"""[security] proxy_hops: the app believes exactly that many reverse proxies' X-Forwarded-For
and X-Forwarded-Proto entries (the rightmost ones), and none at all when it is 0.

The client address is what the sign-in rate limit counts and what the audit trail records,
so both are checked through their real paths; the scheme and host through a probe route.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask, request
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

from portal import create_app, db
from portal.audit import AuditAction
from portal.auth.policy import PUBLIC, access
from portal.models import AuditEvent, Role
from tests.conftest import test_settings
from tests.factories import csrf_token, make_organisation, make_user, sign_in

AppFactory = Callable[[int], Flask]


@pytest.fixture
def app_behind(engine: Engine, keyring_path: Path, connection: Connection) -> Iterator[AppFactory]:
    """app_behind(hops): the real app trusting `hops` proxies, with a sign-in limit of two a
    minute in its own memory, and a probe showing how it sees each request."""
    made: list[Flask] = []

    def make(hops: int) -> Flask:
        settings = test_settings(
            engine.url.render_as_string(False),
            keyring_path,
            security={"proxy_hops": hops, "sign_in_rate_limit": "2 per minute"},
        )
        app = create_app(settings, check_database=False)
        db.database(app).sessions = sessionmaker(
            bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
        )

        @access(PUBLIC)
        def probe() -> dict[str, str | None]:
            return {"address": request.remote_addr, "scheme": request.scheme, "host": request.host}

        app.add_url_rule("/_probe", "probe", probe)
        made.append(app)
        return app

    yield make
    for app in made:
        db.database(app).engine.dispose()


def seen(app: Flask, **headers: str) -> dict[str, str]:
    answer = app.test_client().get("/_probe", headers=headers)
    assert answer.status_code == 200
    found: dict[str, str] = answer.get_json()
    return found


def sign_in_attempts(app: Flask, *forwarded_for: str) -> list[int]:
    """One failed sign-in attempt (an address no organisation owns) per X-Forwarded-For."""
    client = app.test_client()
    token = csrf_token(client.get("/sign-in").get_data(as_text=True))
    return [
        client.post(
            "/sign-in",
            data={"csrf_token": token, "email": "someone@nowhere.test"},
            headers={"X-Forwarded-For": value},
        ).status_code
        for value in forwarded_for
    ]


def sign_out_address(app: Flask, db_session: Session, **headers: str) -> str | None:
    """Sign someone in, sign them out with these headers; the address the audit recorded."""
    user = make_user(db_session, make_organisation(db_session), Role.PARTNER_CONTRIBUTOR)
    client = app.test_client()
    sign_in(app, client, user)
    token = csrf_token(client.get("/").get_data(as_text=True))
    assert client.post("/sign-out", data={"csrf_token": token}, headers=headers).status_code == 302
    event = db_session.scalar(
        sa.select(AuditEvent).where(
            AuditEvent.action == AuditAction.SIGN_OUT, AuditEvent.actor_user_id == user.id
        )
    )
    assert event is not None
    return event.client_address


def test_one_hop_takes_the_address_the_proxy_added(app_behind: AppFactory) -> None:
    app = app_behind(1)
    assert seen(app, **{"X-Forwarded-For": "6.6.6.6, 10.0.0.7"})["address"] == "10.0.0.7"
    assert seen(app)["address"] == "127.0.0.1"  # no header: the peer itself


def test_two_hops_take_the_second_entry_from_the_right(app_behind: AppFactory) -> None:
    app = app_behind(2)
    forwarded = {"X-Forwarded-For": "6.6.6.6, 10.0.0.7, 10.0.0.1"}
    assert seen(app, **forwarded)["address"] == "10.0.0.7"


def test_no_hops_ignores_every_forwarded_header(app_behind: AppFactory) -> None:
    app = app_behind(0)
    forged = {
        "X-Forwarded-For": "6.6.6.6, 10.0.0.7",
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "evil.example",
    }
    assert seen(app, **forged) == {"address": "127.0.0.1", "scheme": "http", "host": "localhost"}


def test_the_scheme_comes_from_the_proxy_only_with_hops(app_behind: AppFactory) -> None:
    assert seen(app_behind(1), **{"X-Forwarded-Proto": "https"})["scheme"] == "https"
    assert seen(app_behind(0), **{"X-Forwarded-Proto": "https"})["scheme"] == "http"


def test_the_host_never_comes_from_a_forwarded_header(app_behind: AppFactory) -> None:
    # The proxy sends the public host in Host itself; X-Forwarded-Host is never believed.
    answer = seen(app_behind(1), **{"X-Forwarded-Host": "evil.example", "Host": "portal.test"})
    assert answer["host"] == "portal.test"


def test_the_rate_limit_counts_the_address_the_proxy_saw(app_behind: AppFactory) -> None:
    app = app_behind(1)
    assert sign_in_attempts(app, "6.6.6.6, 10.0.0.7", "7.7.7.7, 10.0.0.7") == [400, 400]
    # Whatever the client writes to the left of the proxy's entry, it is still 10.0.0.7.
    assert sign_in_attempts(app, "8.8.8.8, 10.0.0.7", "10.0.0.7") == [429, 429]
    # Another address the proxy saw has its own budget.
    assert sign_in_attempts(app, "6.6.6.6, 10.0.0.8") == [400]


def test_without_hops_a_forged_header_cannot_buy_a_new_budget(app_behind: AppFactory) -> None:
    app = app_behind(0)
    assert sign_in_attempts(app, "10.0.0.1", "10.0.0.2", "10.0.0.3") == [400, 400, 429]


@pytest.mark.parametrize(("hops", "address"), [(1, "10.0.0.7"), (0, "127.0.0.1")])
def test_the_audit_trail_records_the_address_the_app_believes(
    app_behind: AppFactory, db_session: Session, hops: int, address: str
) -> None:
    recorded = sign_out_address(
        app_behind(hops), db_session, **{"X-Forwarded-For": "6.6.6.6, 10.0.0.7"}
    )
    assert recorded == address
