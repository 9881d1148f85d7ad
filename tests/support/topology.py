"""The scaled-out portal on loopback, as infra/ deploys it: nginx (infra/nginx, TLS) in front
of two gunicorn instances (infra/gunicorn.conf.py, proxy_hops = 1, secure cookies), two
delivery workers and two audit sequencers, on one PostgreSQL database seeded with the demo's
data, rate limits in Redis under a key prefix of this run's own, the reference CMS and the
development OpenID provider. Every part is a separate process started from the project's own
commands.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis
import requests
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from loopback.cms import CMS_CASE, ReferenceCms
from loopback.databases import drop_database
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
)
from portal.crypto import FileKeyring
from portal.demo.identity import dev_provider_config
from portal.demo.seed import SCHOOLS
from portal.models import Case, Organisation, User
from portal.settings import AttachmentSettings
from tests.support.deliveries import Outbox, worker_environment
from tests.support.dev_oidc import DevOidcProvider
from tests.support.live_portal import Browser, LiveStack
from tests.support.nginx import Nginx, loopback_values, require_nginx
from tests.support.portal_stack import demo_database

REDIS_URL = "redis://127.0.0.1:6379/0"
SEQUENCERS = ("sequencer-a", "sequencer-b")
SIGN_IN_LIMIT = 5
WORKERS = ("worker-a", "worker-b")
HTTP_TIMEOUT = 10


@dataclass
class Topology:
    public_url: str  # nginx, over HTTPS
    http_url: str  # nginx's plain-HTTP port, which only redirects
    instances: tuple[str, str]  # each gunicorn instance, reached directly
    engine: Engine
    keyring: FileKeyring
    files: Path
    certificate: Path
    rate_limit_prefix: str
    cms: ReferenceCms
    nginx: Nginx
    directory: Path

    def browser(self) -> Browser:
        """A person's browser, reaching the portal through nginx and trusting its certificate."""
        browser = Browser(LiveStack(self.public_url, self.engine))
        # Not from the environment: REQUESTS_CA_BUNDLE would win over the session's own.
        browser.http.trust_env = False
        browser.http.verify = str(self.certificate)
        return browser

    def through_nginx(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("allow_redirects", False)
        return requests.request(
            method,
            self.public_url + path,
            verify=str(self.certificate),
            timeout=HTTP_TIMEOUT,
            **kwargs,
        )

    def direct(
        self,
        instance: int,
        method: str,
        path: str,
        *,
        cookie: str | None = None,
        client: str = "127.0.0.1",
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> requests.Response:
        """A request to one gunicorn instance, carrying what nginx would add: the public host,
        the client's address and the scheme. `cookie` is the session cookie's value."""
        sent = {
            "Host": self.public_url.removeprefix("https://"),
            "X-Forwarded-For": client,
            "X-Forwarded-Proto": "https",
            "Referer": self.public_url + "/",
        }
        if cookie is not None:
            sent["Cookie"] = f"__Host-portal-session={cookie}"
        sent |= headers or {}
        return requests.request(
            method,
            self.instances[instance] + path,
            headers=sent,
            allow_redirects=False,
            timeout=HTTP_TIMEOUT,
            **kwargs,
        )

    def rate_limit_keys(self) -> list[str]:
        store = redis.Redis.from_url(REDIS_URL)
        try:
            return [key.decode() for key in store.keys(f"*{self.rate_limit_prefix}*")]
        finally:
            store.close()

    def failures(self) -> list[str]:
        names = ("web-a.log", "web-b.log", *(f"{name}.log" for name in (*WORKERS, *SEQUENCERS)))
        return logs_with_tracebacks(self.directory, names)

    def logs(self) -> str:
        return log_tails(self.directory) + "\n" + log_tails(self.nginx.directory)


class DemoCaseOutbox(Outbox):
    """Accepted contributions on the demo's case NCC-100234, from Ashby Lane's partner lead
    (`Outbox.accepted`); unlike `Outbox`, it adds no organisations of its own."""

    def __init__(self, session: Session, keyring: FileKeyring, files: Path) -> None:
        self.session = session
        self.keyring = keyring
        self.files = AttachmentSettings(storage_directory=files, scanner="none")
        case = session.scalar(sa.select(Case).where(Case.cms_reference == CMS_CASE))
        assert case is not None and case.allocated_worker_id is not None
        self.case = case
        self.worker = session.get_one(User, case.allocated_worker_id)
        self.school = session.scalars(
            sa.select(Organisation).where(Organisation.name == SCHOOLS[0])
        ).one()
        self.lead = session.scalars(sa.select(User).where(User.subject == "dsl-1")).one()


@contextmanager
def scale_out(
    postgres_admin: Engine,
    keyring: FileKeyring,
    keyring_path: Path,
    audit_key_path: Path,
    directory: Path,
) -> Iterator[Topology]:
    require_nginx()
    https_port, http_port = free_port(), free_port()
    public_url = f"https://127.0.0.1:{https_port}"
    web_ports = (free_port(), free_port())
    with ExitStack() as running:
        url, engine, providers = demo_database(postgres_admin, keyring, "topology")
        running.callback(lambda: (engine.dispose(), drop_database(postgres_admin, url)))
        (directory / "cms").mkdir()
        cms = ReferenceCms(directory / "cms").start()
        running.callback(cms.stop)
        prefix = f"topology-{uuid.uuid4().hex[:12]}"
        running.callback(lambda: _forget_counters(prefix))
        files = directory / "files"
        # Long claims: a delivery is never taken over from a worker that is merely slow here.
        environment = worker_environment(url, keyring_path, files, cms, lease_seconds=60)
        environment |= {
            "PORTAL_SERVICE__BASE_URL": public_url,
            "PORTAL_SECURITY__SESSION_COOKIE_SECURE": "true",
            "PORTAL_SECURITY__PROXY_HOPS": "1",
            "PORTAL_SECURITY__RATE_LIMIT_STORAGE": REDIS_URL,
            "PORTAL_SECURITY__RATE_LIMIT_KEY_PREFIX": prefix,
            "PORTAL_SECURITY__SIGN_IN_RATE_LIMIT": f"{SIGN_IN_LIMIT} per minute",
            "PORTAL_AUDIT__SIGNING_KEY_FILE": str(audit_key_path),
            "PORTAL_CMS__BATCH_SIZE": "5",
        }
        run_portal(environment, "audit", "checkpoint")
        instances = []
        for name, port in zip(("web-a", "web-b"), web_ports, strict=True):
            process = ProjectProcess(
                gunicorn_command(),
                environment | {"PORTAL_BIND": f"127.0.0.1:{port}", "PORTAL_WEB_WORKERS": "2"},
                directory / f"{name}.log",
            )
            running.callback(process.stop)
            instances.append((f"http://127.0.0.1:{port}", process, directory / f"{name}.log"))
        for instance_url, process, log in instances:
            wait_for_http(f"{instance_url}/healthz", process, log)
        for name in WORKERS:
            worker = WorkerProcess(environment, directory / f"{name}.log", "--name", name)
            running.callback(worker.terminate)
        # Two audit sequencers, as two hosts would run them: one leads, the other stands by.
        for name in SEQUENCERS:
            sequencer = ProjectProcess(
                portal_command("audit", "sequencer"), environment, directory / f"{name}.log"
            )
            running.callback(sequencer.stop)
        nginx_directory = directory / "nginx"
        nginx_directory.mkdir()
        values = loopback_values(
            nginx_directory,
            https_port=https_port,
            http_port=http_port,
            upstreams=(f"127.0.0.1:{web_ports[0]}", f"127.0.0.1:{web_ports[1]}"),
        )
        nginx = Nginx(nginx_directory, values).start(https_port)
        running.callback(nginx.stop)
        oidc = DevOidcProvider(
            dev_provider_config(providers, public_url)["providers"],
            log_path=directory / "oidc.log",
        )
        oidc.start()
        running.callback(oidc.stop)
        yield Topology(
            public_url=public_url,
            http_url=f"http://127.0.0.1:{http_port}",
            instances=(instances[0][0], instances[1][0]),
            engine=engine,
            keyring=keyring,
            files=files,
            certificate=Path(values["PORTAL_TLS_CERTIFICATE"]),
            rate_limit_prefix=prefix,
            cms=cms,
            nginx=nginx,
            directory=directory,
        )


def _forget_counters(prefix: str) -> None:
    store = redis.Redis.from_url(REDIS_URL)
    try:
        keys = store.keys(f"*{prefix}*")
        if keys:
            store.delete(*keys)
    finally:
        store.close()
