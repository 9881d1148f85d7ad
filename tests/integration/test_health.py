"""/healthz and /readyz: open, revealing nothing but each dependency's name and up or down,
quick when one hangs, and honest when one goes away. Only the database, its schema and the
keyring make the instance "not ready" (503); the rest are reported (portal/health/checks.py
says why). Every dependency here is real: a private Redis, a real clamd behind a proxy that
can cut it, a listening socket for the CMS's API host, a store directory and a signing key."""

from __future__ import annotations

import json
import shutil
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.engine import Engine, make_url

from portal import create_app, db
from portal.attachments import scanner_check
from portal.audit.signing import CheckpointSigner
from portal.crypto import FileKeyring
from portal.health.checks import CHECK_SECONDS
from portal.settings import AttachmentSettings
from tests.conftest import test_settings
from tests.faults.servers import PrivateRedis
from tests.support.clamd import Clamd, record_passing_check


class TcpProxy:
    """Forwards a loopback port to the PostgreSQL server and can cut every connection, so a
    test can take the database away from a running app and give it back."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.open_sockets: list[socket.socket] = []
        self.accepting = True
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            with self.lock:
                if not self.accepting:
                    client.close()
                    continue
                upstream = socket.create_connection(self.target)
                self.open_sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                try:
                    end.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def cut(self) -> None:
        with self.lock:
            self.accepting = False
            for open_socket in self.open_sockets:
                try:
                    open_socket.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                open_socket.close()
            self.open_sockets.clear()

    def restore(self) -> None:
        with self.lock:
            self.accepting = True

    def close(self) -> None:
        self.cut()
        self.listener.close()


@pytest.fixture
def proxy(postgresql_engine: Engine) -> Iterator[TcpProxy]:
    url = postgresql_engine.url
    tcp_proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    yield tcp_proxy
    tcp_proxy.close()


def test_healthz_is_open_and_says_only_alive(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "alive"}


@dataclass
class Dependencies:
    storage: Path
    signing_key: Path
    redis: PrivateRedis
    clamd: TcpProxy  # to the real clamd's TCP port
    cms: socket.socket  # listening, as the CMS's API host would

    def settings(self, **sections: dict[str, Any]) -> dict[str, dict[str, Any]]:
        values: dict[str, dict[str, Any]] = {
            "security": {
                "rate_limit_storage": self.redis.url,
                "rate_limit_key_prefix": f"readyz-{uuid.uuid4().hex[:8]}",
            },
            "audit": {"signing_key_file": str(self.signing_key)},
            "attachments": {
                "storage_directory": str(self.storage),
                "scanner": "clamd",
                "clamd_host": "127.0.0.1",
                "clamd_port": self.clamd.port,
            },
            "cms": {
                "adapter": "reference",
                "base_url": f"http://127.0.0.1:{self.cms.getsockname()[1]}",
            },
        }
        for name, changes in sections.items():
            values[name] = {**values.get(name, {}), **changes}
        return values


@pytest.fixture
def dependencies(tmp_path: Path, clamd: Clamd) -> Iterator[Dependencies]:
    storage = tmp_path / "files"
    storage.mkdir()
    signing_key = tmp_path / "audit-signing-key.pem"
    CheckpointSigner.create(signing_key)
    redis_server = PrivateRedis(tmp_path)
    redis_server.start()
    clamd_proxy = TcpProxy("127.0.0.1", clamd.tcp_port)
    record_passing_check(clamd, storage)
    cms = socket.create_server(("127.0.0.1", 0))
    yield Dependencies(storage, signing_key, redis_server, clamd_proxy, cms)
    cms.close()
    clamd_proxy.close()
    redis_server.stop()


@pytest.fixture
def serve(
    postgresql_engine: Engine, keyring_path: Path, dependencies: Dependencies
) -> Iterator[Callable[..., Flask]]:
    """Make an app on the run's database with every dependency configured; `keyring` and
    settings sections change what it is given."""
    made: list[Flask] = []

    def make(keyring: Path = keyring_path, **sections: dict[str, Any]) -> Flask:
        url = postgresql_engine.url.render_as_string(False)
        app = create_app(
            test_settings(url, keyring, **dependencies.settings(**sections)),
            check_database=False,
        )
        made.append(app)
        return app

    yield make
    for app in made:
        db.database(app).engine.dispose()


EVERY_CHECK = (
    "database",
    "migrations",
    "keyring",
    "rate_limit_storage",
    "attachment_storage",
    "audit_signing_key",
    "malware_scanner",
    "malware_scanner_checked",
    "cms",
)


def probe(app: Flask) -> tuple[int, dict[str, Any]]:
    response = app.test_client().get("/readyz")
    body: dict[str, Any] = response.get_json()
    assert set(body) == {"status", "checks"}
    assert all(isinstance(up, bool) for up in body["checks"].values()), body
    assert body["status"] == ("ready" if response.status_code == 200 else "not ready")
    return response.status_code, body["checks"]


def test_readyz_names_every_dependency_up_or_down_and_nothing_more(
    serve: Callable[..., Flask],
) -> None:
    status, checks = probe(serve())
    assert status == 200
    assert checks == dict.fromkeys(EVERY_CHECK, True)


def test_without_redis_clamd_or_a_cms_nothing_is_checked_that_is_not_used(
    postgresql_engine: Engine, keyring_path: Path, tmp_path: Path
) -> None:
    settings = test_settings(
        postgresql_engine.url.render_as_string(False),
        keyring_path,
        attachments={"storage_directory": str(tmp_path), "scanner": "none"},
    )
    app = create_app(settings, check_database=False)
    status, checks = probe(app)
    assert status == 200
    assert checks == dict.fromkeys(
        ("database", "migrations", "keyring", "attachment_storage"), True
    )
    db.database(app).engine.dispose()


def _stop_redis(dependencies: Dependencies) -> None:
    dependencies.redis.stop()


def _remove_store(dependencies: Dependencies) -> None:
    shutil.rmtree(dependencies.storage)


def _remove_signing_key(dependencies: Dependencies) -> None:
    dependencies.signing_key.unlink()


def _cut_clamd(dependencies: Dependencies) -> None:
    dependencies.clamd.cut()


def _forget_the_scanner_check(dependencies: Dependencies) -> None:
    scanner_check.record_path(AttachmentSettings(storage_directory=dependencies.storage)).unlink()


def _close_cms(dependencies: Dependencies) -> None:
    dependencies.cms.close()


@pytest.mark.parametrize(
    ("check", "breaks"),
    [
        ("rate_limit_storage", _stop_redis),
        ("attachment_storage", _remove_store),
        ("audit_signing_key", _remove_signing_key),
        ("malware_scanner", _cut_clamd),
        ("malware_scanner_checked", _forget_the_scanner_check),
        ("cms", _close_cms),
    ],
)
def test_a_shared_service_or_store_that_fails_is_reported_but_the_instance_stays_ready(
    serve: Callable[..., Flask],
    dependencies: Dependencies,
    check: str,
    breaks: Callable[[Dependencies], None],
) -> None:
    app = serve()
    assert probe(app) == (200, dict.fromkeys(EVERY_CHECK, True))
    breaks(dependencies)
    status, checks = probe(app)
    # A scanner that does not answer has not been checked either, and the store that has gone
    # held the check's record.
    unchecked = check in {"malware_scanner", "attachment_storage"}
    also = {"malware_scanner_checked": False} if unchecked else {}
    assert checks == dict.fromkeys(EVERY_CHECK, True) | {check: False} | also
    # Every instance shares it, and the app says so on the pages that need it: taking them
    # all out of the load balancer would turn a partial outage into a whole one.
    assert status == 200


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"passed": False}, id="the last check failed"),
        pytest.param({"scanner_version": "ClamAV 1.4.5"}, id="clamd was upgraded since"),
        pytest.param(None, id="the record is not JSON"),
        pytest.param(
            {"checked_at": (datetime.now(UTC) - timedelta(hours=25)).isoformat()},
            id="the last check is more than a day old",
        ),
        pytest.param({"checked_at": None}, id="the record has no time"),
    ],
)
def test_a_scanner_not_checked_as_it_runs_now_is_reported(
    serve: Callable[..., Flask], dependencies: Dependencies, change: dict[str, Any] | None
) -> None:
    app = serve()
    assert probe(app)[1]["malware_scanner_checked"] is True
    record = scanner_check.record_path(AttachmentSettings(storage_directory=dependencies.storage))
    body = json.loads(record.read_text(encoding="utf-8"))
    record.write_text(json.dumps(body | change) if change else "{passed", encoding="utf-8")
    status, checks = probe(app)
    assert checks == dict.fromkeys(EVERY_CHECK, True) | {"malware_scanner_checked": False}
    assert status == 200


def test_a_signing_key_others_could_read_is_reported(
    serve: Callable[..., Flask], dependencies: Dependencies
) -> None:
    app = serve()
    dependencies.signing_key.chmod(0o644)
    assert probe(app)[1]["audit_signing_key"] is False


def test_a_dependency_that_hangs_costs_the_probe_seconds_not_minutes(
    serve: Callable[..., Flask],
) -> None:
    silent = socket.create_server(("127.0.0.1", 0))  # connections complete, nothing answers
    try:
        app = serve(attachments={"clamd_port": silent.getsockname()[1]})
        started = time.monotonic()
        status, checks = probe(app)
        elapsed = time.monotonic() - started
    finally:
        silent.close()
    assert checks["malware_scanner"] is False and status == 200
    assert CHECK_SECONDS - 0.5 < elapsed < CHECK_SECONDS + 1.5


def test_a_keyring_that_is_not_this_databases_makes_the_instance_not_ready(
    serve: Callable[..., Flask], tmp_path: Path
) -> None:
    other = tmp_path / "other-keyring.json"
    FileKeyring.create(other)
    status, checks = probe(serve(keyring=other))
    assert status == 503
    assert checks == dict.fromkeys(EVERY_CHECK, True) | {"keyring": False}


def test_a_schema_behind_the_code_makes_the_instance_not_ready(
    serve: Callable[..., Flask], postgresql_engine: Engine
) -> None:
    app = serve()
    with postgresql_engine.begin() as connection:
        head = connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalar_one()
        connection.execute(sa.text("UPDATE alembic_version SET version_num = '0001'"))
    try:
        status, checks = probe(app)
    finally:
        with postgresql_engine.begin() as connection:
            connection.execute(
                sa.text("UPDATE alembic_version SET version_num = :head"), {"head": head}
            )
    assert status == 503
    assert checks == dict.fromkeys(EVERY_CHECK, True) | {"migrations": False}
    assert probe(app)[0] == 200


def test_readyz_fails_while_the_database_is_down_and_recovers(
    proxy: TcpProxy, postgresql_engine: Engine, keyring_path: Path
) -> None:
    url = make_url(postgresql_engine.url.render_as_string(False)).set(
        host="127.0.0.1", port=proxy.port
    )
    app = create_app(test_settings(url.render_as_string(False), keyring_path))
    client = app.test_client()
    assert client.get("/readyz").status_code == 200

    proxy.cut()
    down = client.get("/readyz")
    assert down.status_code == 503
    assert down.get_json()["checks"]["database"] is False
    body = down.get_data(as_text=True)
    assert str(proxy.port) not in body and "postgres" not in body.lower()
    # A page that needs the database gets the "unavailable" page, not a stack trace.
    page = client.get("/sign-in/organisations")
    assert page.status_code == 503
    assert "Sorry, the service is unavailable" in page.get_data(as_text=True)
    assert "Traceback" not in page.get_data(as_text=True)

    proxy.restore()
    assert client.get("/readyz").status_code == 200
    db.database(app).engine.dispose()
