"""The real stack on loopback for one benchmark run: a PostgreSQL database of its own (migrated,
keyring registered), the document store, the reference CMS, the audit log's witnesses (a
checkpoint store directory and the loopback RFC 3161 TSA) and gunicorn serving the portal
with infra/gunicorn.conf.py (its /metrics behind a token the run makes), all with
PORTAL_ENV=bench (config/bench.toml). Workers, and the floor page (bench/floor.py) on the same
gunicorn configuration, are started by the figures that need them. Everything is torn down and
the database dropped at the end, whatever happens."""

from __future__ import annotations

import os
import secrets
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import Engine

from bench.scale import Scale
from loopback.cms import ReferenceCms
from loopback.databases import admin_engine, create_database, drop_database, migrated_engine
from loopback.processes import (
    ProjectProcess,
    free_port,
    gunicorn_command,
    log_tails,
    run_portal,
    wait_for_http,
)
from loopback.tsa import ROOT_FILE, LoopbackTsa
from portal.audit.signing import CheckpointSigner
from portal.crypto import FileKeyring
from portal.private_files import write_new_private_file

# gunicorn as infra/gunicorn.conf.py runs it in production: a worker per core, four threads.
WEB_WORKERS = 2
WEB_THREADS = 4


@dataclass
class Bench:
    scale: Scale
    directory: Path
    database_url: str
    engine: Engine
    keyring_path: Path
    keyring: FileKeyring
    environment: dict[str, str]
    cms: ReferenceCms
    metrics_token: str
    portal_url: str = ""
    web: ProjectProcess | None = None
    started: float = field(default_factory=time.monotonic)

    def progress(self, message: str) -> None:
        elapsed = time.monotonic() - self.started
        print(f"[bench {elapsed:6.0f}s] {message}", file=sys.stderr, flush=True)

    def portal(self, *arguments: str) -> str:
        """Run a `portal` command on this stack; returns what it printed."""
        return run_portal(self.environment, *arguments)

    def start_web(self, **settings: str) -> None:
        """(Re)start gunicorn, with extra PORTAL_* settings for this part of the run only."""
        self.stop_web()
        port = free_port()
        self.portal_url = f"http://127.0.0.1:{port}"
        environment = self.environment | settings
        environment |= {
            "PORTAL_BIND": f"127.0.0.1:{port}",
            "PORTAL_SERVICE__BASE_URL": self.portal_url,
        }
        log = self.directory / "gunicorn.log"
        self.web = ProjectProcess(gunicorn_command(), environment, log)
        wait_for_http(f"{self.portal_url}/healthz", self.web, log)

    def stop_web(self) -> None:
        if self.web is not None:
            self.web.stop()
            self.web = None

    def web_worker_pids(self) -> list[int]:
        """The gunicorn worker processes (the children of the arbiter)."""
        return [] if self.web is None else gunicorn_workers(self.web)

    @contextmanager
    def floor(self) -> Iterator[Floor]:
        """The floor page (bench/floor.py) served by gunicorn with infra/gunicorn.conf.py, as
        the portal is, on this run's database."""
        port = free_port()
        environment = self.environment | {"PORTAL_BIND": f"127.0.0.1:{port}"}
        log = self.directory / "floor.log"
        served = ProjectProcess([*gunicorn_command(), "bench.floor:app"], environment, log)
        try:
            wait_for_http(f"http://127.0.0.1:{port}/healthz", served, log)
            yield Floor(f"http://127.0.0.1:{port}", served)
        finally:
            served.stop()

    def logs(self) -> str:
        return log_tails(self.directory)


@dataclass(frozen=True)
class Floor:
    url: str
    web: ProjectProcess

    def worker_pids(self) -> list[int]:
        return gunicorn_workers(self.web)


def gunicorn_workers(arbiter: ProjectProcess) -> list[int]:
    """A gunicorn's worker processes (the children of its arbiter)."""
    pid = arbiter.process.pid
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


@contextmanager
def open_bench(
    scale: Scale, directory: Path, settings: dict[str, str] | None = None
) -> Iterator[Bench]:
    """The stack, with extra PORTAL_* `settings` for every process of the run."""
    directory.mkdir(parents=True, exist_ok=True)
    admin = admin_engine()
    with ExitStack() as running:
        running.callback(admin.dispose)
        url = create_database(admin, "bench")
        running.callback(drop_database, admin, url)
        keyring_path = directory / "keys" / "keyring.json"
        keyring_path.parent.mkdir(mode=0o700)
        FileKeyring.create(keyring_path)
        keyring = FileKeyring.load(keyring_path)
        engine = migrated_engine(url, keyring)
        running.callback(engine.dispose)
        signing_key = directory / "keys" / "audit-signing-key.pem"
        CheckpointSigner.create(signing_key)
        metrics_token = secrets.token_urlsafe(48)
        metrics_token_file = directory / "keys" / "metrics-token"
        write_new_private_file(metrics_token_file, metrics_token.encode())
        (directory / "files").mkdir(mode=0o700)
        (directory / "cms").mkdir()
        cms = ReferenceCms(directory / "cms").start()
        running.callback(cms.stop)
        tsa = LoopbackTsa(directory / "tsa").start()
        running.callback(tsa.stop)
        (directory / "witness").mkdir(mode=0o700)
        environment = {
            key: value for key, value in os.environ.items() if not key.startswith("PORTAL_")
        }
        environment |= (
            {
                "PORTAL_ENV": "bench",
                "PORTAL_DATABASE__URL": url,
                "PORTAL_KEYRING__PATH": str(keyring_path),
                "PORTAL_SECURITY__SECRET_KEY": secrets.token_urlsafe(48),
                "PORTAL_AUDIT__SIGNING_KEY_FILE": str(signing_key),
                "PORTAL_OBSERVABILITY__METRICS_TOKEN_FILE": str(metrics_token_file),
                "PORTAL_ATTACHMENTS__STORAGE_DIRECTORY": str(directory / "files"),
                # The witnesses, as production has them: checkpoints go to both.
                "PORTAL_AUDIT__WITNESS_DIRECTORY": str(directory / "witness"),
                "PORTAL_AUDIT__TSA_URL": tsa.url,
                "PORTAL_AUDIT__TSA_CERTIFICATE_FILE": str(tsa.directory / ROOT_FILE),
                "PORTAL_WEB_WORKERS": str(WEB_WORKERS),
                "PORTAL_WEB_THREADS": str(WEB_THREADS),
                # Workers deliver as soon as work is due, as in production.
                "PORTAL_CMS__POLL_SECONDS": "0.2",
            }
            | cms.settings()
            | (settings or {})
        )
        bench = Bench(
            scale, directory, url, engine, keyring_path, keyring, environment, cms, metrics_token
        )
        running.callback(bench.stop_web)
        bench.start_web()
        yield bench
