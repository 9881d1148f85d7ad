"""PostgreSQL restarted (or failed over) while the portal was idle: every connection in the
pool is dead, and nothing has noticed. The first person along afterwards is served, not shown
"service unavailable" for an outage that is already over: a connection idle in the pool for a
while is checked before use (portal/db.py make_engine), one busy under load is not."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from portal import create_app, db
from portal.crypto import FileKeyring
from tests.conftest import test_settings
from tests.faults.portal_data import seeded_database
from tests.faults.servers import PrivatePostgres
from tests.support.world import World, client_for

pytestmark = pytest.mark.postgres


@pytest.fixture
def portal(
    cluster: PrivatePostgres, keyring: FileKeyring, keyring_path: Path, audit_key_path: Path
) -> Iterator[tuple[Flask, World]]:
    url, world = seeded_database(cluster, keyring, f"idle_{uuid.uuid4().hex[:8]}")
    app = create_app(
        test_settings(url, keyring_path, audit={"signing_key_file": str(audit_key_path)})
    )
    yield app, world
    db.database(app).engine.dispose()


def test_the_first_request_after_a_restart_while_idle_is_served(
    portal: tuple[Flask, World], cluster: PrivatePostgres, monkeypatch: pytest.MonkeyPatch
) -> None:
    app, world = portal
    worker = client_for(app, world.worker)
    teacher = client_for(app, world.teacher)
    assert worker.get("/requests").status_code == 200
    assert teacher.get("/inbox").status_code == 200  # the pool now holds connections
    assert db.database(app).engine.pool.checkedin() >= 1

    cluster.restart(pause=0.5)
    # Waiting out the idle time before a check is what a quiet night does; here it is cut short.
    monkeypatch.setattr(db, "IDLE_BEFORE_CHECK_SECONDS", 0.0)

    assert worker.get("/requests").status_code == 200
    assert teacher.get("/inbox").status_code == 200
