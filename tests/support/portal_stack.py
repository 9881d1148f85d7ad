"""The whole portal on loopback, as the demo runs it, for the browser journeys.

gunicorn (infra/gunicorn.conf.py, two workers) serves the portal on a PostgreSQL database of
its own, seeded with the demo's organisations, people and identity providers; the development
OpenID provider (node) signs people in; a `portal disarm` process makes each document's safe
copy; the reference CMS and a `portal worker` process carry accepted contributions; `portal
notifications send` delivers e-mail to the development SMTP server, which keeps each message
as a file; rate limits are counted in Redis. Every part is a separate process started from
the project's own commands, and every log is kept for failures.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa
from playwright.sync_api import Page
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from loopback.cms import ReferenceCms
from loopback.databases import create_database, drop_database, migrated_engine
from loopback.processes import (
    ProjectProcess,
    WorkerProcess,
    free_port,
    gunicorn_command,
    log_tails,
    logs_with_tracebacks,
    portal_command,
    run_portal,
    wait_for_http,
    wait_until,
)
from portal.auth.oidc.provider_spec import ProviderSpec
from portal.auth.sessions import token_hash
from portal.crypto import FileKeyring
from portal.demo.identity import dev_provider_config
from portal.demo.seed import seed_demo_data
from tests.support.deliveries import worker_environment
from tests.support.demo_identity import providers_on, runtime_keyring, unregistered_on
from tests.support.dev_oidc import DevOidcProvider

REDIS_URL = "redis://127.0.0.1:6379/0"


@dataclass
class PortalStack:
    portal_url: str
    engine: Engine
    directory: Path
    cms: ReferenceCms
    # Providers the development OpenID provider serves that the portal has not registered
    # (config/demo-identity-providers.toml's [[unregistered_provider]]), by slug, with secrets.
    unregistered: dict[str, tuple[ProviderSpec, str | None]] = field(default_factory=dict)

    @property
    def mail(self) -> list[str]:
        """Every e-mail the SMTP server received, oldest first."""
        return [
            path.read_text(encoding="utf-8")
            for path in sorted((self.directory / "mail").glob("*.eml"))
        ]

    def wait_for_mail(self, text: str, timeout: float = 30) -> str:
        """The first e-mail the SMTP server received that mentions `text`."""

        def found() -> str | None:
            return next((message for message in self.mail if text in message), None)

        message: str = wait_until(found, timeout, f"an e-mail mentioning {text}")
        return message

    def logs(self) -> str:
        return log_tails(self.directory)

    def failures(self) -> list[str]:
        names = ("gunicorn.log", "worker.log", "disarm.log", "notifications.log", "smtp-sink.log")
        return logs_with_tracebacks(self.directory, names)

    def age_session(self, page: Page, minutes: int = 31) -> None:
        """Time passes for the browser's portal session: its last activity moves back
        `minutes` (the portal's own check then decides whether it has ended)."""
        token = next(c["value"] for c in page.context.cookies() if c["name"] == "portal-session")
        with self.engine.begin() as connection:
            connection.execute(
                sa.text(
                    "UPDATE web_sessions SET last_seen_at = last_seen_at - make_interval("
                    "mins => :minutes) WHERE token_hash = :hash"
                ),
                {"minutes": minutes, "hash": token_hash(token)},
            )


def demo_database(
    postgres_admin: Engine, keyring: FileKeyring, purpose: str
) -> tuple[str, Engine, list[tuple[ProviderSpec, str | None]]]:
    """A new PostgreSQL database, migrated and seeded with the demo's data, its identity
    providers on free loopback ports: (its URL, an engine, the providers)."""
    url = create_database(postgres_admin, purpose)
    engine = migrated_engine(url, keyring)
    providers = providers_on({spec.slug: free_port() for spec, _secret in providers_on()})
    with Session(engine) as session, session.begin(), runtime_keyring(keyring):
        seed_demo_data(session, providers)
    return url, engine, providers


@contextmanager
def portal_stack(
    postgres_admin: Engine,
    keyring: FileKeyring,
    keyring_path: Path,
    audit_key_path: Path,
    directory: Path,
) -> Iterator[PortalStack]:
    url, engine, providers = demo_database(postgres_admin, keyring, "browser")
    unregistered = unregistered_on({spec.slug: free_port() for spec, _ in unregistered_on()})
    port, smtp_port = free_port(), free_port()
    portal_url = f"http://127.0.0.1:{port}"
    (directory / "cms").mkdir()
    cms = ReferenceCms(directory / "cms")
    with ExitStack() as running:
        running.callback(lambda: (engine.dispose(), drop_database(postgres_admin, url)))
        cms.start()
        running.callback(cms.stop)
        environment = worker_environment(url, keyring_path, directory / "files", cms)
        environment |= {
            "PORTAL_SERVICE__BASE_URL": portal_url,
            "PORTAL_BIND": f"127.0.0.1:{port}",
            "PORTAL_WEB_WORKERS": "2",
            "PORTAL_AUDIT__SIGNING_KEY_FILE": str(audit_key_path),
            "PORTAL_NOTIFICATIONS__SMTP_PORT": str(smtp_port),
            "PORTAL_SECURITY__RATE_LIMIT_STORAGE": REDIS_URL,
            "PORTAL_SECURITY__RATE_LIMIT_KEY_PREFIX": f"browser-{uuid.uuid4().hex[:8]}",
            # Every person in every journey signs in from 127.0.0.1: the limit is counted (in
            # Redis) but set above what the suite needs. Its own tests are in test_sessions.py.
            "PORTAL_SECURITY__SIGN_IN_RATE_LIMIT": "600 per minute",
            "PORTAL_DISARM__POLL_SECONDS": "0.5",
        }

        def start(name: str, command: list[str]) -> ProjectProcess:
            process = ProjectProcess(command, environment, directory / f"{name}.log")
            running.callback(process.stop)
            return process

        run_portal(environment, "audit", "checkpoint")
        sink_log = directory / "smtp-sink.log"
        start(
            "smtp-sink",
            portal_command(
                "notifications",
                "smtp-sink",
                "--port",
                str(smtp_port),
                "--directory",
                str(directory / "mail"),
            ),
        )
        wait_until(lambda: "Receiving e-mail" in sink_log.read_text(), 20, "the SMTP server")
        start("notifications", portal_command("notifications", "send", "--every", "1"))
        web_log = directory / "gunicorn.log"
        web = start("gunicorn", gunicorn_command())
        wait_for_http(f"{portal_url}/healthz", web, web_log)
        worker = WorkerProcess(environment, directory / "worker.log")
        running.callback(worker.terminate)
        start("disarm", portal_command("disarm"))
        # The audit log's sequencer, as the demo runs it: events into the tree within a second.
        start("sequencer", portal_command("audit", "sequencer"))
        oidc = DevOidcProvider(
            dev_provider_config([*providers, *unregistered], portal_url)["providers"],
            log_path=directory / "oidc.log",
        )
        oidc.start()
        running.callback(oidc.stop)
        by_slug = {spec.slug: (spec, secret) for spec, secret in unregistered}
        yield PortalStack(portal_url, engine, directory, cms, by_slug)
