"""Metrics and logs from the portal as it runs for real: gunicorn (infra/gunicorn.conf.py) with
two worker processes on a migrated PostgreSQL database of its own. One scrape, whichever
worker answers it, adds up what both counted; gunicorn's own log lines are JSON like the
portal's; and `portal worker` logs JSON too. The reference CMS receives deliveries."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from loopback.cms import ReferenceCms
from loopback.databases import create_database, drop_database, migrated_engine
from loopback.processes import (
    ProjectProcess,
    WorkerProcess,
    free_port,
    gunicorn_command,
    wait_for_http,
)
from portal.audit import AuditAction, record_event
from portal.audit.signing import CheckpointSigner
from portal.crypto import FileKeyring
from portal.models import OutboxMessage
from portal.models.base import utcnow
from portal.private_files import write_new_private_file
from tests.integration.test_logs import json_lines
from tests.integration.test_metrics import samples
from tests.support.audit_log import settle
from tests.support.deliveries import Outbox, worker_environment

HTTP_TIMEOUT = 10


@dataclass
class Served:
    url: str
    token: str
    outbox: Outbox
    environment: dict[str, str]
    metrics_directory: Path
    directory: Path

    def get(self, path: str, **headers: str) -> requests.Response:
        return requests.get(self.url + path, headers=headers, timeout=HTTP_TIMEOUT)

    def scrape(self) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        response = self.get("/metrics", Authorization=f"Bearer {self.token}")
        assert response.status_code == 200, response.status_code
        return samples(response.text)

    def worker_pids(self) -> set[str]:
        """The processes that have counted requests: each keeps its own file."""
        return {path.stem.rsplit("_", 1)[1] for path in self.metrics_directory.glob("counter_*.db")}

    def log(self, name: str) -> str:
        return (self.directory / f"{name}.log").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def served(
    postgres_admin: Engine,
    keyring: FileKeyring,
    keyring_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Served]:
    directory = tmp_path_factory.mktemp("gunicorn")
    url = create_database(postgres_admin, "metrics")
    engine = migrated_engine(url, keyring)
    token = secrets.token_urlsafe(48)
    write_new_private_file(directory / "metrics-token", token.encode())
    metrics_directory = directory / "metrics"
    metrics_directory.mkdir()
    (metrics_directory / "counter_1.db").write_bytes(b"a previous run's counts")
    (directory / "cms").mkdir()
    cms = ReferenceCms(directory / "cms")
    port = free_port()
    with ExitStack() as running, Session(engine) as session:
        running.callback(lambda: (engine.dispose(), drop_database(postgres_admin, url)))
        cms.start()
        running.callback(cms.stop)
        environment = worker_environment(url, keyring_path, directory / "files", cms) | {
            "PORTAL_OBSERVABILITY__METRICS_TOKEN_FILE": str(directory / "metrics-token"),
            "PORTAL_BIND": f"127.0.0.1:{port}",
            "PORTAL_WEB_WORKERS": "2",
        }
        web = ProjectProcess(
            gunicorn_command(),
            environment | {"PROMETHEUS_MULTIPROC_DIR": str(metrics_directory)},
            directory / "gunicorn.log",
        )
        running.callback(web.stop)
        wait_for_http(f"http://127.0.0.1:{port}/healthz", web, directory / "gunicorn.log")
        outbox = Outbox(session, keyring, directory / "files")
        yield Served(
            f"http://127.0.0.1:{port}", token, outbox, environment, metrics_directory, directory
        )


def test_a_scrape_adds_up_what_every_worker_counted(served: Served) -> None:
    assert not (served.metrics_directory / "counter_1.db").exists()  # cleaned at start
    sent = 0
    with ThreadPoolExecutor(max_workers=10) as pool:
        # Both workers must have answered some; concurrent requests reach both, soon.
        while sent < 20 or len(served.worker_pids()) < 2:
            assert sent < 400, "one worker answered everything"
            answers = list(pool.map(lambda _: served.get("/cookies").status_code, range(10)))
            assert answers == [200] * 10
            sent += 10

    figures = served.scrape()
    page = {("endpoint", "pages.cookies"), ("method", "GET")}
    assert figures[("portal_http_requests_total", frozenset(page | {("status_class", "2xx")}))] == (
        sent
    )
    assert figures[("portal_http_request_duration_seconds_count", frozenset(page))] == sent
    buckets = [
        labels
        for (name, labels) in figures
        if name == "portal_http_request_duration_seconds_bucket" and page <= labels
    ]
    assert len(buckets) == 12  # 11 bounds and +Inf, for this endpoint and method


def test_metrics_is_not_there_without_the_token(served: Served) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": served.token}):
        response = served.get("/metrics", **headers)
        assert response.status_code == 404
        assert "portal_" not in response.text


def test_the_scrape_reads_the_outbox_and_the_newest_checkpoint(
    served: Served, audit_key_path: Path
) -> None:
    assert served.scrape()[("portal_audit_checkpoint_age_seconds", frozenset())] == float("inf")
    session = served.outbox.session
    (waiting,) = served.outbox.accepted(1)
    session.execute(
        sa.update(OutboxMessage)
        .where(OutboxMessage.id == waiting)
        .values(created_at=utcnow() - timedelta(minutes=30))
    )
    record_event(session, AuditAction.DEMO_DATA_SEEDED)
    assert settle(session, CheckpointSigner.load(audit_key_path)) is not None
    session.commit()

    figures = served.scrape()
    assert figures[("portal_cms_outbox_pending", frozenset())] == 1
    assert 30 * 60 <= figures[("portal_cms_outbox_oldest_pending_age_seconds", frozenset())] < 1900
    assert figures[("portal_cms_outbox_dead_lettered", frozenset())] == 0
    assert 0 <= figures[("portal_audit_checkpoint_age_seconds", frozenset())] < 60
    assert figures[("portal_audit_events_waiting", frozenset())] == 0
    assert figures[("portal_audit_unwitnessed_checkpoints", frozenset())] >= 1
    session.execute(sa.delete(OutboxMessage).where(OutboxMessage.id == waiting))
    session.commit()


def test_gunicorn_and_the_portal_write_json_lines_and_gunicorn_no_access_log(
    served: Served,
) -> None:
    response = served.get("/accessibility?child=Amelia")
    lines = json_lines(served.log("gunicorn"))  # every line, gunicorn's own too
    booted = [line for line in lines if line["logger"] == "gunicorn.error"]
    assert any(line["message"].startswith("Booting worker with pid") for line in booted)
    access = [line for line in lines if line.get("request_id") == response.headers["X-Request-Id"]]
    assert [(line["logger"], line["endpoint"], line["status"]) for line in access] == [
        ("portal.access", "pages.accessibility", 200)
    ]
    assert "Amelia" not in served.log("gunicorn")


def test_the_delivery_worker_logs_json(served: Served) -> None:
    served.outbox.accepted(1)
    worker = WorkerProcess(served.environment, served.directory / "worker.log", "--once")
    assert worker.wait() == 0, worker.output()
    # Its own lines are JSON; the command's report to the operator is plain text on stdout.
    logged = [line for line in worker.output().splitlines() if line.startswith("{")]
    lines = json_lines("\n".join(logged))
    delivered = [line for line in lines if line["logger"] == "portal.connector.worker"]
    assert delivered and all(line["level"] == "INFO" for line in delivered)
    assert re.search(r"delivered as CMS-", delivered[0]["message"])
    assert "Delivered 1, retrying 0, dead-lettered 0." in worker.output()
