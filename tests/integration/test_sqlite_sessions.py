"""On the demo's SQLite database, where every transaction takes the single write lock at BEGIN,
a request never waits for itself: touching or ending a signed-in person's session is written in
the request's own transaction, not from a second connection that would wait for the lock the
request already holds (15 s, then "service unavailable").

The usual test app shares one connection between all its sessions, which hides exactly this;
here the app runs on a SQLite file of its own, as the demo does."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from loopback.databases import migrated_engine
from portal import create_app, db
from portal.crypto import FileKeyring
from portal.models import OrganisationKind, Role, WebSession
from tests.conftest import test_settings
from tests.factories import make_organisation, make_user, sign_in


@pytest.fixture
def sqlite_app(tmp_path: Path, keyring: FileKeyring, keyring_path: Path) -> Iterator[Flask]:
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    migrated_engine(url, keyring).dispose()
    app = create_app(test_settings(url, keyring_path), check_database=False)
    yield app
    db.database(app).engine.dispose()


def _signed_in_client(app: Flask) -> FlaskClient:
    with app.app_context(), Session(db.database(app).engine, expire_on_commit=False) as session:
        worker = make_user(
            session, make_organisation(session, OrganisationKind.COUNCIL), Role.SOCIAL_WORKER
        )
        session.commit()
    client = app.test_client()
    sign_in(app, client, worker)
    return client


def _last_seen(app: Flask, ago: timedelta) -> None:
    with Session(db.database(app).engine) as session, session.begin():
        session.execute(sa.update(WebSession).values(last_seen_at=datetime.now(UTC) - ago))


def _sessions(app: Flask) -> list[WebSession]:
    with Session(db.database(app).engine) as session:
        return list(session.scalars(sa.select(WebSession)))


def test_a_session_due_a_touch_is_touched_without_waiting(sqlite_app: Flask) -> None:
    client = _signed_in_client(sqlite_app)
    _last_seen(sqlite_app, timedelta(minutes=2))
    started = time.monotonic()
    answer = client.get("/requests")
    waited = time.monotonic() - started
    assert answer.status_code == 200
    assert waited < 10, f"the request waited {waited:.1f} s for its own lock"
    [row] = _sessions(sqlite_app)
    assert datetime.now(UTC) - row.last_seen_at.replace(tzinfo=UTC) < timedelta(seconds=30)


def test_a_session_past_its_idle_time_ends_without_waiting(sqlite_app: Flask) -> None:
    client = _signed_in_client(sqlite_app)
    _last_seen(sqlite_app, timedelta(hours=5))
    started = time.monotonic()
    answer = client.get("/requests")
    assert time.monotonic() - started < 10
    assert answer.status_code == 302 and "/sign-in" in answer.headers["Location"]
    assert _sessions(sqlite_app) == []


def test_the_probes_answer_a_signed_in_browser_at_once(sqlite_app: Flask) -> None:
    """/readyz checks the database on connections of its own: the session read must not keep
    the write lock they wait for."""
    client = _signed_in_client(sqlite_app)
    started = time.monotonic()
    answer = client.get("/readyz")
    assert time.monotonic() - started < 5
    assert answer.status_code == 200, answer.get_json()
