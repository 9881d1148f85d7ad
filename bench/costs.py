"""Encryption's and the audit trail's share of a page's time, from the portal's own Prometheus
histograms (portal/security_costs.py) on the unmodified product: what their sums grew by over
one page's load, divided by what the same page's requests took in all
(portal_http_request_duration_seconds_sum, the portal's own time for each request)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import requests
from prometheus_client.parser import text_string_to_metric_families

REQUEST_TIME = "portal_http_request_duration_seconds"
SEAL = "portal_crypto_field_seal_seconds"
OPEN = "portal_crypto_field_open_seconds"
DOCUMENTS = "portal_crypto_document_seconds"
APPEND = "portal_audit_append_seconds"
# Not a page: the scrapes themselves.
SCRAPE_ENDPOINT = "observability.metrics"


def scrape(portal_url: str, token: str) -> dict[str, float]:
    """Each histogram's sum (labels added up), and the requests' time by endpoint
    (`portal_http_request_duration_seconds:ENDPOINT`)."""
    answer = requests.get(
        f"{portal_url}/metrics", headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    answer.raise_for_status()
    sums: dict[str, float] = defaultdict(float)
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            if not sample.name.endswith("_sum"):
                continue
            name = sample.name.removesuffix("_sum")
            if name == REQUEST_TIME:
                name = f"{name}:{sample.labels['endpoint']}"
            sums[name] += sample.value
    return dict(sums)


@dataclass(frozen=True)
class Shares:
    """Seconds spent in each over some requests, and those requests' whole time."""

    request_seconds: float
    seal: float
    open: float
    documents: float
    append: float

    def describe(self) -> str:
        whole = self.request_seconds or float("nan")

        def share(seconds: float) -> str:
            return f"{100 * seconds / whole:.1f}%"

        encryption = self.seal + self.open + self.documents
        return (
            f"encryption {share(encryption)} (seal {share(self.seal)}, open {share(self.open)}, "
            f"documents {share(self.documents)}); audit {share(self.append)}"
        )


def shares_between(before: dict[str, float], after: dict[str, float]) -> Shares:
    """The shares over what every page but the scrapes answered between two scrapes."""

    def grown(name: str) -> float:
        return after.get(name, 0.0) - before.get(name, 0.0)

    pages = [
        name
        for name in after
        if name.startswith(f"{REQUEST_TIME}:") and name != f"{REQUEST_TIME}:{SCRAPE_ENDPOINT}"
    ]
    return Shares(
        request_seconds=sum(grown(name) for name in pages),
        seal=grown(SEAL),
        open=grown(OPEN),
        documents=grown(DOCUMENTS),
        append=grown(APPEND),
    )
