"""gunicorn settings for the portal. Override with GUNICORN_CMD_ARGS or flags."""

import os
import shutil
import tempfile
from pathlib import Path

wsgi_app = "portal.wsgi:app"
bind = os.environ.get("PORTAL_BIND", "127.0.0.1:5000")
workers = int(os.environ.get("PORTAL_WEB_WORKERS", "2"))
# Threads, not sync workers: nginx streams uploads and downloads through unbuffered (documents
# never touch its disk), so a slow client holds its request for as long as it takes. A sync
# worker would be tied up (and killed at `timeout`, cutting off a 25 MB upload on a slow line);
# a thread only holds itself, and `timeout` is then the worker's heartbeat, not a request limit.
# nginx's client_body_timeout and proxy timeouts bound an idle client.
worker_class = "gthread"
threads = int(os.environ.get("PORTAL_WEB_THREADS", "4"))
timeout = 60
# nginx reuses its connections for up to 60 s idle (its upstream keepalive_timeout): gunicorn
# must not close one first, or a request nginx sends down it as it closes fails.
keepalive = 75
# Each worker listens on a socket of its own (SO_REUSEPORT), and the kernel spreads new
# connections across them. With one socket shared, a connection stays with whichever worker
# accepted it, and under keep-alive load all of a client's connections (nginx's, a load
# generator's) sometimes landed on one worker, which queued requests while the other sat idle:
# throughput halved on 2 cores. Closing every connection after one request spread the load but
# cost a quarter of a cheap page's throughput (gunicorn lingers for the client's close on the
# worker's accepting thread). Bind to TCP (the units do): SO_REUSEPORT does nothing for a Unix
# socket. docs/operations.md says more.
reuse_port = True
graceful_timeout = 30
# Load the app in the master first: a configuration error stops start-up once, clearly,
# instead of every worker failing in turn.
preload_app = True
# gunicorn's run-time control socket (gunicornc) is not used: the runbook manages the service
# through its unit (signals), and one socket fewer is one way in fewer. Two instances on one
# host would also share its default path.
control_socket_disable = True
# gunicorn never decides the scheme from X-Forwarded-Proto (by default it believes any
# loopback or unix-socket peer): the app does, behind exactly [security] proxy_hops proxies.
secure_scheme_headers: dict[str, str] = {}

# Metrics: each worker counts in files in PROMETHEUS_MULTIPROC_DIR, and a scrape of /metrics
# adds up every worker's. Set here, before the app (and prometheus_client) is loaded. A
# directory the operator names (a tmpfs such as /run/portal/metrics, writable by the service
# account only) is emptied of an earlier run's counts now; without one, a private temporary
# directory is made and removed at exit.
# (This file is read again on a reload, SIGHUP: the counts then start again from zero.)
if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
    _made = tempfile.mkdtemp(prefix="portal-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = os.environ["PORTAL_MADE_METRICS_DIR"] = _made
_metrics_directory = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
_metrics_directory.mkdir(mode=0o700, parents=True, exist_ok=True)
for _stale in _metrics_directory.glob("*.db"):
    _stale.unlink()


def child_exit(_server: object, worker: object) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[attr-defined]


def on_exit(_server: object) -> None:
    made = os.environ.get("PORTAL_MADE_METRICS_DIR")
    if made:
        shutil.rmtree(made, ignore_errors=True)


# Logs: the portal writes one access line per request itself (request id, person's internal
# id, endpoint, status, duration; never a query string), so gunicorn's own is off. gunicorn's
# error log goes through the portal's handler, in the portal's [observability] log_format.
accesslog = None
errorlog = "-"
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "root": {"level": "INFO", "handlers": ["portal"]},
    "loggers": {
        "gunicorn.error": {"level": "INFO", "handlers": [], "propagate": True},
        "gunicorn.access": {"level": "INFO", "handlers": [], "propagate": False},
        # Heard from at WARNING and above, as in every portal process (observability/logs.py);
        # set here too because the app's modules are imported, and log, before it sets them.
        **{name: {"level": "WARNING"} for name in ("alembic", "urllib3", "werkzeug")},
    },
    "handlers": {"portal": {"()": "portal.observability.logs.portal_handler"}},
    "formatters": {},
}
