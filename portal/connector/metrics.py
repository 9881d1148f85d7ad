"""Prometheus metrics for the delivery queue: its depth and age, read from the database at
each scrape, and the worker's own counts of deliveries and failures and what its encryption
and audit appends cost."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from portal.connector.adapter import CmsFailure
from portal.connector.outbox import queue_figures
from portal.security_costs import HISTOGRAMS as SECURITY_COSTS


class QueueCollector(Collector):
    def __init__(self, sessions: Callable[[], Session]) -> None:
        self.sessions = sessions

    def collect(self) -> Iterator[Metric]:
        readable = GaugeMetricFamily(
            "portal_cms_outbox_readable", "1 when the queue's figures could be read."
        )
        try:
            with self.sessions() as session:
                figures = queue_figures(session)
        except SQLAlchemyError:
            readable.add_metric([], 0)
            yield readable
            return
        readable.add_metric([], 1)
        yield readable
        yield GaugeMetricFamily(
            "portal_cms_outbox_pending", "Deliveries waiting to reach the CMS.", figures.pending
        )
        yield GaugeMetricFamily(
            "portal_cms_outbox_oldest_pending_age_seconds",
            "How long the oldest waiting delivery has waited.",
            figures.oldest_pending_seconds,
        )
        yield GaugeMetricFamily(
            "portal_cms_outbox_dead_lettered",
            "Deliveries that stopped trying and need an administrator.",
            figures.dead_lettered,
        )
        yield GaugeMetricFamily(
            "portal_cms_outbox_delivered", "Deliveries the CMS has recorded.", figures.delivered
        )


class WorkerMetrics:
    """The worker's counters; `observe` is the DeliveryWorker's callback."""

    def __init__(self, registry: CollectorRegistry, sessions: Callable[[], Session]) -> None:
        self.registry = registry
        registry.register(QueueCollector(sessions))
        for histogram in SECURITY_COSTS:
            registry.register(histogram)
        self.deliveries = Counter(
            "portal_cms_deliveries", "Contributions this worker delivered.", registry=registry
        )
        self.failures = Counter(
            "portal_cms_delivery_failures",
            "Failed delivery attempts by this worker, by code; final ones were dead-lettered.",
            ["code", "final"],
            registry=registry,
        )

    def observe(self, outcome: str, failure: CmsFailure | None, final: bool) -> None:
        if failure is None:
            self.deliveries.inc()
        else:
            self.failures.labels(code=failure.code, final=str(final).lower()).inc()
