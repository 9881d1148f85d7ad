"""GET /metrics in one process: a 404 to anyone without the token, the request and sign-in
counters by Flask endpoint and reason, and the figures read from the database at each scrape.
(tests/integration/test_metrics_gunicorn.py scrapes gunicorn's several workers.)"""

from __future__ import annotations

import math
import secrets
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, sessionmaker

from portal import ConfigError, create_app, db
from portal.audit import AuditAction, record_event
from portal.audit.signing import CheckpointSigner
from portal.config import Settings
from portal.crypto import FileKeyring
from portal.lifecycle import OutboxStatus
from portal.models import OutboxMessage
from portal.models.base import utcnow
from portal.observability.metrics import scrape_registry
from portal.private_files import write_new_private_file
from tests.factories import make_organisation
from tests.integration.test_oidc_validation import register_provider
from tests.integration.test_pages import failing_app
from tests.support.audit_log import settle
from tests.support.deliveries import Outbox

__all__ = ["failing_app"]  # a fixture: the app with a route that fails


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of an exposition, by name and labels."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(text: str, name: str, **labels: str) -> float:
    return samples(text).get((name, frozenset(labels.items())), 0.0)


def with_sections(settings: Settings, **sections: dict[str, object]) -> Settings:
    updates = {
        name: getattr(settings, name).model_copy(update=changes)
        for name, changes in sections.items()
    }
    return settings.model_copy(update=updates)


@pytest.fixture
def token() -> str:
    return secrets.token_urlsafe(48)


@pytest.fixture
def metered(
    settings: Settings, connection: Connection, tmp_path: Path, token: str
) -> Iterator[Flask]:
    """The app with a metrics token, its requests bound to the test's transaction."""
    path = tmp_path / "metrics-token"
    write_new_private_file(path, f"{token}\n".encode())
    app = create_app(
        with_sections(settings, observability={"metrics_token_file": path}),
        check_database=False,
    )
    db.database(app).sessions = sessionmaker(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )
    yield app
    db.database(app).engine.dispose()


def scrape(app: Flask, token: str) -> str:
    response = app.test_client().get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.status_code
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return response.get_data(as_text=True)


def test_without_a_configured_token_metrics_is_not_there(client: FlaskClient, token: str) -> None:
    for headers in ({}, {"Authorization": f"Bearer {token}"}, {"Authorization": "Bearer "}):
        response = client.get("/metrics", headers=headers)
        assert response.status_code == 404
        assert "portal_http" not in response.get_data(as_text=True)


def test_only_the_configured_token_gets_the_metrics(metered: Flask, token: str) -> None:
    client = metered.test_client()
    for authorization in (None, "", token, f"Basic {token}", f"Bearer {token}x", "Bearer"):
        headers = {"Authorization": authorization} if authorization is not None else {}
        response = client.get("/metrics", headers=headers)
        assert response.status_code == 404, authorization
        assert "Page not found" in response.get_data(as_text=True)  # as any unknown address
    assert "portal_http_requests_total" in scrape(metered, token)


def test_requests_are_counted_and_timed_by_endpoint_method_and_status_class(
    metered: Flask, token: str
) -> None:
    client = metered.test_client()
    before = scrape(metered, token)
    for _ in range(3):
        client.get("/accessibility?child=Amelia")
    client.get("/requests/DR-NOSUCH1")  # redirected to sign in
    client.get("/no/such/page")
    after = scrape(metered, token)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    page = {"endpoint": "pages.accessibility", "method": "GET"}
    assert grew("portal_http_requests_total", **page, status_class="2xx") == 3
    assert grew("portal_http_request_duration_seconds_count", **page) == 3
    assert grew("portal_http_request_duration_seconds_bucket", **page, le="+Inf") == 3
    assert grew("portal_http_requests_total", endpoint="requests.show", method="GET",
                status_class="3xx") == 1  # fmt: skip
    assert (
        grew("portal_http_requests_total", endpoint="none", method="GET", status_class="4xx") == 1
    )
    assert "Amelia" not in after and "DR-NOSUCH1" not in after and "/no/such" not in after


def test_server_errors_are_counted_by_endpoint(failing_app: Flask) -> None:
    def errors() -> float:
        registry = scrape_registry(failing_app, db.database(failing_app).sessions)
        exposition = generate_latest(registry).decode()
        return value(exposition, "portal_http_errors_total", endpoint="explode")

    before = errors()
    assert failing_app.test_client().get("/test-only/explode").status_code == 500
    assert errors() - before == 1


def test_refused_sign_ins_are_counted_by_reason(
    settings: Settings,
    connection: Connection,
    db_session: Session,
    keyring: FileKeyring,
    tmp_path: Path,
    token: str,
) -> None:
    path = tmp_path / "metrics-token"
    write_new_private_file(path, token.encode())
    app = create_app(
        with_sections(
            settings,
            observability={"metrics_token_file": path},
            security={"sign_in_rate_limit": "2 per minute"},
        ),
        check_database=False,
    )
    db.database(app).sessions = sessionmaker(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )
    register_provider(
        db_session, keyring, make_organisation(db_session), "counted", "https://idp.invalid"
    )
    db_session.commit()
    before = scrape(app, token)
    client = app.test_client()
    answers = [client.get("/sign-in/callback/counted").status_code for _ in range(3)]
    after = scrape(app, token)
    db.database(app).engine.dispose()

    assert answers == [400, 400, 429]  # no sign-in was started; then the limit
    for reason, count in (("no_transaction", 2), ("rate_limited", 1)):
        grew = value(after, "portal_sign_in_failures_total", reason=reason) - value(
            before, "portal_sign_in_failures_total", reason=reason
        )
        assert grew == count, reason


def test_the_queues_and_the_audit_log_are_read_at_each_scrape(
    metered: Flask,
    token: str,
    db_session: Session,
    keyring: FileKeyring,
    audit_key_path: Path,
    tmp_path: Path,
) -> None:
    nothing = samples(scrape(metered, token))
    assert nothing[("portal_audit_checkpoint_age_seconds", frozenset())] == math.inf
    assert nothing[("portal_audit_unwitnessed_checkpoints", frozenset())] == 0
    assert nothing[("portal_cms_outbox_pending", frozenset())] == 0
    record_event(db_session, AuditAction.DEMO_DATA_SEEDED)
    db_session.commit()
    recorded = samples(scrape(metered, token))
    assert recorded[("portal_audit_events_waiting", frozenset())] >= 1

    waiting, dead = Outbox(db_session, keyring, tmp_path / "files").accepted(2)
    db_session.execute(
        sa.update(OutboxMessage)
        .where(OutboxMessage.id == waiting)
        .values(created_at=utcnow() - timedelta(minutes=20))
    )
    db_session.execute(
        sa.update(OutboxMessage)
        .where(OutboxMessage.id == dead)
        .values(status=OutboxStatus.DEAD_LETTERED)
    )
    settle(db_session, CheckpointSigner.load(audit_key_path))
    db_session.commit()

    figures = samples(scrape(metered, token))
    assert figures[("portal_cms_outbox_readable", frozenset())] == 1
    assert figures[("portal_cms_outbox_pending", frozenset())] == 1
    assert figures[("portal_cms_outbox_dead_lettered", frozenset())] == 1
    assert 20 * 60 <= figures[("portal_cms_outbox_oldest_pending_age_seconds", frozenset())] < 1300
    assert 0 <= figures[("portal_audit_checkpoint_age_seconds", frozenset())] < 60
    assert figures[("portal_audit_events_waiting", frozenset())] == 0
    # Signed, not yet handed to a witness (the tests configure none): the alert's figure.
    assert figures[("portal_audit_unwitnessed_checkpoints", frozenset())] == 1
    assert figures[("portal_notifications_pending", frozenset())] >= 0
    assert figures[("portal_dependency_up", frozenset({("dependency", "database")}))] == 1


def test_a_metrics_token_file_others_can_read_stops_start_up(
    settings: Settings, tmp_path: Path, token: str
) -> None:
    path = tmp_path / "metrics-token"
    path.write_text(token)
    path.chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        create_app(
            with_sections(settings, observability={"metrics_token_file": path}),
            check_database=False,
        )
    short = tmp_path / "short-token"
    write_new_private_file(short, b"too-short")
    with pytest.raises(ConfigError, match="at least 32"):
        create_app(
            with_sections(settings, observability={"metrics_token_file": short}),
            check_database=False,
        )
