"""What /readyz checks: every dependency the web app uses, all at once and each within a
couple of seconds, and which of them decide whether this instance should get traffic.

Only what no page can do without gates readiness: the database, its schema and the keyring
(a failure there also means this instance is wrongly deployed). The others are shared
services or stores whose loss the app already handles, for some pages, with a clear message:
sign-in's rate limits fail safe without Redis, uploads are refused without clamd or a
writable store, case lookups wait for the CMS and deliveries wait in the outbox. Taking every
instance out of the load balancer for one of those would turn a partial outage into a whole
one, so they are reported (here and as portal_dependency_up) for alerts, not gated on.

`malware_scanner_checked` is whether this host's last `portal attachments check-scanner` run
passed against the clamd engine answering now (its record in the attachment store names the
engine, so an upgraded clamd reads as unchecked until the command runs again), within
`scanner_check_max_age_hours` (24): a clamd.conf changed since shows in nothing readiness can
see, so the check runs twice a day (infra/systemd/portal-scanner-check.timer) and after clamd
starts. The check itself sends hundreds of MiB through clamd's unpacker and takes seconds of its
CPU: too much for a probe that load balancers send every few seconds, so readiness reads its
record instead (docs/operations.md).
"""

from __future__ import annotations

import logging
import os
import socket
import tempfile
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import Flask

from portal import db, schema
from portal.attachments.scanner_check import last_check_holds
from portal.attachments.scanning import ClamdScanner
from portal.audit.signing import CheckpointSigner
from portal.crypto import runtime
from portal.crypto.keycheck import verify_keyring
from portal.settings import Settings
from portal.startup import code_head

CHECK_SECONDS = 2.0
GATING = frozenset({"database", "migrations", "keyring"})

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Readiness:
    checks: dict[str, bool]  # what /readyz shows: each dependency's name, up or not

    @property
    def ready(self) -> bool:
        return all(up for name, up in self.checks.items() if name in GATING)


def readiness(app: Flask) -> Readiness:
    """Run every check that applies to this configuration; one that has not answered within
    CHECK_SECONDS, or that failed in any way, is down."""
    # The checks run in other threads, where Flask's current_app proxy points at nothing.
    app = getattr(app, "_get_current_object", lambda: app)()
    checks = _checks(app)
    pool = _executor()
    futures = {name: pool.submit(check) for name, check in checks.items()}
    wait(futures.values(), timeout=CHECK_SECONDS)
    return Readiness({name: _answer(name, future) for name, future in futures.items()})


def _checks(app: Flask) -> dict[str, Callable[[], bool]]:
    settings: Settings = app.config["PORTAL_SETTINGS"]
    checks: dict[str, Callable[[], bool]] = {
        "database": lambda: _database_answers(app),
        "migrations": lambda: _schema_is_current(app),
        "keyring": lambda: _keyring_matches(app),
        "attachment_storage": lambda: _writable(settings.attachments.storage_directory),
    }
    if not settings.security.rate_limit_storage.startswith("memory://"):
        checks["rate_limit_storage"] = lambda: _rate_limit_storage_answers(app)
    if settings.audit.signing_key_file is not None:
        path = settings.audit.signing_key_file
        checks["audit_signing_key"] = lambda: _signing_key_readable(path)
    if settings.attachments.scanner == "clamd":
        checks["malware_scanner"] = lambda: _clamd(settings).ping()
        checks["malware_scanner_checked"] = lambda: _scanner_checked(settings)
    if settings.cms.adapter != "none" and settings.cms.base_url:
        checks["cms"] = lambda: _cms_reachable(settings)
    return checks


def _database_answers(app: Flask) -> bool:
    with db.database(app).engine.connect() as connection:
        _limit_statement_time(connection)
        return connection.execute(sa.text("SELECT 1")).scalar() == 1


def _schema_is_current(app: Flask) -> bool:
    with db.database(app).engine.connect() as connection:
        _limit_statement_time(connection)
        return schema.current_revision(connection) == code_head()


def _keyring_matches(app: Flask) -> bool:
    with db.database(app).sessions() as session:
        verify_keyring(session, runtime.keyring(app))  # KeyringError when it does not
    return True


def _limit_statement_time(connection: sa.Connection) -> None:
    if connection.dialect.name == "postgresql":
        milliseconds = int(CHECK_SECONDS * 1000)
        connection.execute(sa.text(f"SET LOCAL statement_timeout = {milliseconds}"))


def _rate_limit_storage_answers(app: Flask) -> bool:
    # Flask-Limiter's storage pings its own server (Redis: PING) and says whether it answered.
    limiters = app.extensions.get("limiter", set())
    return bool(limiters) and all(limiter.storage.check() for limiter in limiters)


def _writable(directory: Path) -> bool:
    """The attachment store exists and a file can be made in it (and is removed at once)."""
    descriptor, name = tempfile.mkstemp(prefix=".readyz-", dir=directory)
    os.close(descriptor)
    os.unlink(name)
    return True


def _signing_key_readable(path: Path) -> bool:
    CheckpointSigner.load(path)  # SigningKeyError when missing, exposed or not a key
    return True


def _clamd(settings: Settings) -> ClamdScanner:
    attachments = settings.attachments
    return ClamdScanner(
        socket_path=attachments.clamd_socket,
        host=attachments.clamd_host,
        port=attachments.clamd_port,
        timeout=CHECK_SECONDS,
    )


def _scanner_checked(settings: Settings) -> bool:
    version = _clamd(settings).version()
    return last_check_holds(settings.attachments, version, datetime.now(UTC))


def _cms_reachable(settings: Settings) -> bool:
    """A connection to the CMS's API host opens: no request, no credentials, nothing logged
    at the CMS. Whether it accepts the portal's deliveries the delivery metrics show."""
    address = urlsplit(settings.cms.base_url or "")
    port = address.port or (443 if address.scheme == "https" else 80)
    timeout = min(CHECK_SECONDS, settings.cms.connect_timeout_seconds)
    with socket.create_connection((address.hostname or "", port), timeout=timeout):
        return True


def _answer(name: str, future: Future[bool]) -> bool:
    """Up or down, with why it is down in the log (in the probe's request, so with its id)."""
    if not future.done():
        logger.warning("readiness check %s: no answer within %g s", name, CHECK_SECONDS)
        return False
    error = future.exception()
    if error is not None:
        logger.warning("readiness check %s failed: %s", name, type(error).__name__)
        return False
    if not future.result():
        logger.warning("readiness check %s: down", name)
        return False
    return True


_pool: tuple[int, ThreadPoolExecutor] | None = None


def _executor() -> ThreadPoolExecutor:
    """One pool per process (a forked worker makes its own). A check stuck past its deadline
    keeps a thread until its own timeout; the pool's size bounds how many can pile up."""
    global _pool
    if _pool is None or _pool[0] != os.getpid():
        _pool = (os.getpid(), ThreadPoolExecutor(max_workers=16, thread_name_prefix="readyz"))
    return _pool[1]
