"""What encryption and the audit trail cost, as Prometheus time histograms: sealing and opening
a record's sensitive fields, encrypting and decrypting a document's stream, and recording an
audit event.

A module of its own, importing nothing of the portal, so that the crypto and audit cores can
time themselves without importing any capability. The web app reports these on /metrics
(portal/observability/metrics.py), the delivery worker on its own metrics port; `make bench`
divides their sums by each page's time to give encryption's and audit's share of it.
"""

from __future__ import annotations

from prometheus_client import Histogram

# Sealing or opening one field takes tens of microseconds, and about a millisecond when its
# record's data key must first be read and unwrapped.
_FIELD_BUCKETS = (0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1)
_DOCUMENT_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 2.5, 10)
_AUDIT_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2)

# registry=None: each process's registry takes them as it needs (see scrape_registry).
FIELD_SEAL_SECONDS = Histogram(
    "portal_crypto_field_seal_seconds",
    "Time to seal one sensitive field of a record, its data key's creation included.",
    buckets=_FIELD_BUCKETS,
    registry=None,
)
FIELD_OPEN_SECONDS = Histogram(
    "portal_crypto_field_open_seconds",
    "Time to open one sealed field of a record, reading and unwrapping its data key included.",
    buckets=_FIELD_BUCKETS,
    registry=None,
)
DOCUMENT_SECONDS = Histogram(
    "portal_crypto_document_seconds",
    "Time spent encrypting (or decrypting) one document's stream, in its chunks' AES-GCM and "
    "key derivation only: reading and writing the bytes are not counted.",
    ["direction"],
    buckets=_DOCUMENT_BUCKETS,
    registry=None,
)
AUDIT_APPEND_SECONDS = Histogram(
    "portal_audit_append_seconds",
    "Time to record audit events (one, or a request's lasting reads together): numbering and "
    "inserting them; the tree is built later by the sequencer, off the request.",
    buckets=_AUDIT_BUCKETS,
    registry=None,
)
HISTOGRAMS = (
    FIELD_SEAL_SECONDS,
    FIELD_OPEN_SECONDS,
    DOCUMENT_SECONDS,
    AUDIT_APPEND_SECONDS,
)


def observe_document(direction: str, seconds: float) -> None:
    """One document's stream finished ("encrypt" or "decrypt") after `seconds` of crypto."""
    DOCUMENT_SECONDS.labels(direction=direction).observe(seconds)
