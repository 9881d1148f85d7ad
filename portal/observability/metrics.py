"""Prometheus metrics for the web app: requests by Flask endpoint, sign-in failures by reason,
what encryption and the audit trail cost (portal/security_costs.py), and, read from the
database at each scrape, the delivery queue, the e-mail queue, and the audit log's progress: the
age of its newest signed tree head, the events not yet in the tree, the heads not yet witnessed.

Under gunicorn every worker process counts on its own; with PROMETHEUS_MULTIPROC_DIR set
(infra/gunicorn.conf.py sets it) prometheus_client keeps the counts in files there and a
scrape, whichever worker answers it, adds them all up.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import sqlalchemy as sa
from flask import Flask, Response, request, request_finished
from prometheus_client import CollectorRegistry, Counter, Histogram, multiprocess
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from portal.audit.sequencer import waiting
from portal.audit.witnessing import unwitnessed_heads
from portal.auth.rate_limits import SIGN_IN_ENDPOINTS
from portal.connector.metrics import QueueCollector
from portal.models import AuditTreeHead, Notification
from portal.models.base import utcnow
from portal.models.notifications import NotificationStatus
from portal.observability.request_log import elapsed_seconds, request_method
from portal.security_costs import HISTOGRAMS as SECURITY_COSTS

# Labels are Flask endpoint names (a fixed set) or "none" for an address no route matches:
# never a path, which would carry references and grow without bound.
NO_ENDPOINT = "none"

REQUEST_DURATION = Histogram(
    "portal_http_request_duration_seconds",
    "Time from the server handing a request over to the response being ready.",
    ["endpoint", "method"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
    registry=None,
)
REQUESTS = Counter(
    "portal_http_requests",
    "Requests answered, by endpoint, method and status class (2xx, 3xx, 4xx, 5xx).",
    ["endpoint", "method", "status_class"],
    registry=None,
)
ERRORS = Counter(
    "portal_http_errors",
    "Requests answered with a server error (5xx), by endpoint.",
    ["endpoint"],
    registry=None,
)
SIGN_IN_FAILURES = Counter(
    "portal_sign_in_failures",
    "Refused sign-ins by reason code (portal/auth/oidc/errors.py), and rate_limited.",
    ["reason"],
    registry=None,
)
_IN_PROCESS = (REQUEST_DURATION, REQUESTS, ERRORS, SIGN_IN_FAILURES, *SECURITY_COSTS)


def count_sign_in_failure(reason: str) -> None:
    SIGN_IN_FAILURES.labels(reason=reason).inc()


def _observe_request(_app: Flask, response: Response, **_extra: Any) -> None:
    endpoint = request.endpoint or NO_ENDPOINT
    method = request_method()
    status = response.status_code
    REQUEST_DURATION.labels(endpoint=endpoint, method=method).observe(elapsed_seconds())
    REQUESTS.labels(endpoint=endpoint, method=method, status_class=f"{status // 100}xx").inc()
    if status >= 500:
        ERRORS.labels(endpoint=endpoint).inc()
    if status == 429 and endpoint in SIGN_IN_ENDPOINTS:
        count_sign_in_failure("rate_limited")


class PortalStateCollector(Collector):
    """The e-mail queue and the audit log's progress, read at each scrape."""

    def __init__(self, sessions: Callable[[], Session]) -> None:
        self.sessions = sessions

    def collect(self) -> Iterator[Metric]:
        try:
            with self.sessions() as session:
                notifications = dict(
                    session.execute(
                        sa.select(Notification.status, sa.func.count())
                        .where(Notification.status != NotificationStatus.SENT)
                        .group_by(Notification.status)
                    ).all()
                )
                signed_at = session.scalar(sa.select(sa.func.max(AuditTreeHead.signed_at)))
                events_waiting = waiting(session)
                unwitnessed = unwitnessed_heads(session)
        except SQLAlchemyError:
            return  # portal_cms_outbox_readable already says the database could not be read
        yield GaugeMetricFamily(
            "portal_notifications_pending",
            "E-mails waiting to be sent.",
            notifications.get(NotificationStatus.PENDING, 0),
        )
        yield GaugeMetricFamily(
            "portal_notifications_failed",
            "E-mails that were given up on after their last attempt.",
            notifications.get(NotificationStatus.FAILED, 0),
        )
        age = (utcnow() - signed_at).total_seconds() if signed_at else float("inf")
        yield GaugeMetricFamily(
            "portal_audit_checkpoint_age_seconds",
            "Seconds since the newest signed audit tree head (+Inf when there is none).",
            max(age, 0.0),
        )
        yield GaugeMetricFamily(
            "portal_audit_events_waiting",
            "Audit events recorded (committed) but not yet placed in the tree by the sequencer.",
            events_waiting,
        )
        yield GaugeMetricFamily(
            "portal_audit_unwitnessed_checkpoints",
            "Signed audit tree heads that the checkpoint store or the TSA does not yet hold.",
            unwitnessed,
        )


class DependencyCollector(Collector):
    """Each /readyz check as 1 or 0, gating or not, so every dependency can be alerted on."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    def collect(self) -> Iterator[Metric]:
        from portal.health.checks import readiness

        family = GaugeMetricFamily(
            "portal_dependency_up",
            "1 when the dependency answered the readiness check, 0 when it did not.",
            labels=["dependency"],
        )
        for name, up in readiness(self.app).checks.items():
            family.add_metric([name], 1 if up else 0)
        yield family


def scrape_registry(app: Flask, sessions: Callable[[], Session]) -> CollectorRegistry:
    """What one scrape reports: every worker's counts, and the figures read now."""
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        for metric in _IN_PROCESS:
            registry.register(metric)
    registry.register(QueueCollector(sessions))
    registry.register(PortalStateCollector(sessions))
    registry.register(DependencyCollector(app))
    return registry


def init_app(app: Flask) -> None:
    request_finished.connect(_observe_request, app)
