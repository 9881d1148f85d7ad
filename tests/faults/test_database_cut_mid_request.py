"""A database connection cut in the middle of a request, as a restart or a failover cuts it
(its server process terminated): in the middle of the work, or at the commit. The person gets
the "service unavailable" page, nothing of the request is kept, nothing is logged but the
error's kind, and the next request works on the same app (the pool replaces the connection)."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.engine import Connection, Engine
from werkzeug.datastructures import MultiDict

from portal import create_app, db
from portal.crypto import FileKeyring
from tests.conftest import test_settings
from tests.factories import csrf_token
from tests.faults.portal_data import check_nothing_is_half_written, seeded_database
from tests.faults.servers import PrivatePostgres
from tests.support.world import World, client_for, request_form

pytestmark = pytest.mark.postgres

NEW_REQUEST = "/requests/new/NCC-555001"


class ConnectionCutter:
    """Terminates the server process of the connection that runs a statement starting with
    `statement`, once: just before it runs (`point` "statement"), or just before its
    transaction commits ("commit")."""

    def __init__(
        self, engine: Engine, cluster: PrivatePostgres, statement: str, point: str
    ) -> None:
        self.statement = statement
        self.point = point
        self.cut = False
        self._admin = sa.create_engine(cluster.url, isolation_level="AUTOCOMMIT")
        sa.event.listen(engine, "before_cursor_execute", self._executing)
        sa.event.listen(engine, "commit", self._committing)

    def _executing(self, conn: Connection, cursor: Any, statement: str, *_args: Any) -> None:
        if self.cut or not statement.startswith(self.statement):
            return
        if self.point == "statement":
            self._terminate(cursor.connection.info.backend_pid)
        else:
            conn.info["cut at commit"] = True

    def _committing(self, conn: Connection) -> None:
        if conn.info.pop("cut at commit", False):
            dbapi_connection: Any = conn.connection.dbapi_connection
            self._terminate(dbapi_connection.info.backend_pid)

    def _terminate(self, pid: int) -> None:
        with self._admin.connect() as admin:
            admin.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            gone = sa.text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid")
            deadline = time.monotonic() + 5
            while admin.execute(gone, {"pid": pid}).scalar() and time.monotonic() < deadline:
                time.sleep(0.02)
        self.cut = True

    def close(self) -> None:
        self._admin.dispose()


@pytest.fixture
def portal(
    cluster: PrivatePostgres, keyring: FileKeyring, keyring_path: Path, audit_key_path: Path
) -> Iterator[tuple[Flask, World, str]]:
    url, world = seeded_database(cluster, keyring, f"cut_{uuid.uuid4().hex[:8]}")
    app = create_app(
        test_settings(url, keyring_path, audit={"signing_key_file": str(audit_key_path)})
    )
    yield app, world, url
    db.database(app).engine.dispose()


def issue_form(client: FlaskClient, world: World) -> MultiDict[str, str]:
    token = csrf_token(client.get(NEW_REQUEST).get_data(as_text=True))
    fields = request_form(world, token)
    assert client.post(NEW_REQUEST, data=fields).status_code == 200  # the check page
    return MultiDict([*fields.items(multi=True), ("step", "issue")])


@pytest.mark.parametrize("point", ["statement", "commit"])
def test_a_connection_cut_mid_request_shows_unavailable_and_keeps_nothing(
    portal: tuple[Flask, World, str],
    cluster: PrivatePostgres,
    audit_key_path: Path,
    caplog: pytest.LogCaptureFixture,
    point: str,
) -> None:
    app, world, url = portal
    worker = client_for(app, world.worker)
    form = issue_form(worker, world)
    engine = db.database(app).engine
    cutter = ConnectionCutter(engine, cluster, "INSERT INTO delegation_requests", point)
    try:
        cut = worker.post(NEW_REQUEST, data=form)
    finally:
        cutter.close()

    assert cutter.cut
    page = cut.get_data(as_text=True)
    assert cut.status_code == 503 and "Location" not in cut.headers
    assert "Sorry, the service is unavailable" in page
    assert "psycopg" not in page and "terminating" not in page
    assert "content-security-policy" in {name.lower() for name in cut.headers.keys()}
    assert "database error: " in caplog.text
    assert not [r for r in caplog.records if r.exc_info] and "Traceback" not in caplog.text
    check_nothing_is_half_written(url, audit_key_path, [], [])
    engine = sa.create_engine(url)
    with engine.connect() as connection:
        kept = connection.execute(sa.text("SELECT count(*) FROM delegation_requests")).scalar()
    engine.dispose()
    assert kept == 0

    # The same app, the next request: the dead connection was replaced, not reused.
    again = worker.post(NEW_REQUEST, data=issue_form(worker, world))
    assert again.status_code == 302
    reference = re.search(r"DR-[0-9A-Z]{8}", again.headers["Location"])
    assert reference is not None
    check_nothing_is_half_written(url, audit_key_path, [reference.group(0)], [])


def test_a_connection_cut_while_saving_the_session_shows_unavailable(
    portal: tuple[Flask, World, str], cluster: PrivatePostgres, caplog: pytest.LogCaptureFixture
) -> None:
    app, world, _url = portal
    worker = client_for(app, world.worker)
    # The form page stores its new form token in the session, after the request's own work.
    cutter = ConnectionCutter(db.database(app).engine, cluster, "UPDATE web_sessions", "commit")
    try:
        cut = worker.get(NEW_REQUEST)
    finally:
        cutter.close()
    assert cutter.cut
    assert cut.status_code == 503
    assert "Sorry, the service is unavailable" in cut.get_data(as_text=True)
    assert 'name="csrf_token"' not in cut.get_data(as_text=True)  # a form that could not work
    assert not [r for r in caplog.records if r.exc_info] and "Traceback" not in caplog.text
    assert worker.get(NEW_REQUEST).status_code == 200
