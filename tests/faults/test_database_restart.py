"""PostgreSQL restarted under load: gunicorn (infra/gunicorn.conf.py, two workers) serves a
social worker issuing requests, a teacher answering and sending them and a colleague reading,
while the fault tests' own PostgreSQL cluster stops, stays down two seconds and starts again.

While it is down people get the GOV.UK "Sorry, the service is unavailable" page (503), never a
stack trace; the log holds no traceback and no database error's text; the same gunicorn
processes serve everyone again once it is back (within 30 seconds: the point is recovering
without a restart, not speed on a loaded machine); and nothing is half-written."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from loopback.processes import (
    ProjectProcess,
    free_port,
    gunicorn_command,
    wait_for_http,
    wait_until,
)
from portal import create_app, db
from portal.crypto import FileKeyring
from tests.conftest import test_settings
from tests.factories import sign_in
from tests.faults.load import Answer, Load, answer_and_send, issue_requests, read_pages
from tests.faults.portal_data import check_nothing_is_half_written, seeded_database
from tests.faults.servers import PrivatePostgres, portal_environment
from tests.support.world import World, issue

pytestmark = pytest.mark.postgres

OUTAGE_SECONDS = 2.0
RECOVERY_SECONDS = 30.0  # the most the last failure may come after PostgreSQL is back
SERVED_AFTER = 10  # answers, for each person, once the last failure has passed
# What a database error's message would bring into a page or a log line.
EXCEPTION_TEXT = (
    "Traceback",
    "psycopg",
    "OperationalError:",
    "connection failed",
    "Connection refused",
    "terminating connection",
    "server closed the connection",
    "the database system is",
)


def gunicorn_workers(master: int) -> set[int]:
    children = Path(f"/proc/{master}/task/{master}/children").read_text()
    return {int(pid) for pid in children.split()}


@contextmanager
def gunicorn(environment: dict[str, str], base_url: str, log: Path) -> Iterator[ProjectProcess]:
    """gunicorn with the project's configuration, once both its workers are up."""
    command = gunicorn_command()
    web = ProjectProcess(command, environment, log)
    try:
        wait_for_http(f"{base_url}/healthz", web, log)
        master = web.process.pid
        wait_until(lambda: len(gunicorn_workers(master)) == 2, 30, "two gunicorn workers")
        yield web
    finally:
        web.stop()


def signed_in(url: str, world: World, keyring_path: Path, audit_key_path: Path) -> dict[str, str]:
    """A first request issued, and a session token for each person of the load."""
    settings = test_settings(url, keyring_path, audit={"signing_key_file": str(audit_key_path)})
    app = create_app(settings)
    tokens = {"first": issue(app, world)}
    for person in ("worker", "teacher", "colleague"):
        tokens[person] = sign_in(app, app.test_client(), getattr(world, person))
    db.database(app).engine.dispose()
    return tokens


def test_a_database_restart_under_load_shows_unavailable_and_recovers_without_a_restart(
    cluster: PrivatePostgres,
    tmp_path: Path,
    keyring: FileKeyring,
    keyring_path: Path,
    audit_key_path: Path,
) -> None:
    url, world = seeded_database(cluster, keyring, "restart")
    tokens = signed_in(url, world, keyring_path, audit_key_path)
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    environment = portal_environment(
        url,
        keyring_path,
        audit_key_path,
        service__base_url=base_url,
        attachments__storage_directory=str(tmp_path / "files"),
        attachments__scanner="none",
    ) | {"PORTAL_BIND": f"127.0.0.1:{port}", "PORTAL_WEB_WORKERS": "2"}
    log = tmp_path / "gunicorn.log"
    load = Load(base_url, "portal-session", world)
    with gunicorn(environment, base_url, log) as web:
        workers = gunicorn_workers(web.process.pid)
        threads = load.run(
            [
                issue_requests(load, load.person("worker", tokens["worker"])),
                answer_and_send(load, load.person("teacher", tokens["teacher"])),
                read_pages(load, load.person("colleague", tokens["colleague"]), tokens["first"]),
            ]
        )
        # Under load, and working, before anything breaks.
        wait_until(lambda: load.submitted, 60, "a first contribution sent")
        down_at = time.monotonic()
        cluster.restart(pause=OUTAGE_SECONDS)
        up_at = time.monotonic()
        wait_until(
            lambda: served_since_last_failure(load, up_at),
            RECOVERY_SECONDS + 30,
            f"{SERVED_AFTER} answers for each person after the last failure",
        )
        load.stop.set()
        for thread in threads:
            thread.join(timeout=60)
        assert web.process.poll() is None, "gunicorn stopped"
        assert gunicorn_workers(web.process.pid) == workers, "a worker was replaced"

    log_text = log.read_text(encoding="utf-8", errors="replace")
    failures = [a for a in load.answers if a.status not in (200, 302)]
    assert failures, "the outage was not noticed: no load reached the database"
    for answer in failures:
        assert answer.status == 503, _explain(answer, log_text)
        assert "Sorry, the service is unavailable" in answer.body, _explain(answer, log_text)
        assert not any(text in answer.body for text in EXCEPTION_TEXT), answer.body
        assert down_at <= answer.at <= up_at + RECOVERY_SECONDS, _explain(answer, log_text)
    assert served_since_last_failure(load, up_at)  # and nothing failed after that
    found = [text for text in EXCEPTION_TEXT if text in log_text]
    assert not found, f"the log holds {found}:\n{log_text[-5000:]}"
    check_nothing_is_half_written(url, audit_key_path, load.issued, load.submitted)


def served_since_last_failure(load: Load, up_at: float) -> bool:
    """Every person served SERVED_AFTER times since the last failure, which came after `up_at`
    or not at all: the portal is back for everyone, and stays back."""
    answers = list(load.answers)
    failed = [a.at for a in answers if a.status not in (200, 302)]
    since = max([up_at, *failed])
    served = [a.who for a in answers if a.at > since]
    return all(served.count(who) >= SERVED_AFTER for who in ("worker", "teacher", "colleague"))


def _explain(answer: Answer, log_text: str) -> str:
    return f"{answer}\n--- gunicorn log (tail)\n{log_text[-4000:]}"
