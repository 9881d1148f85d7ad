"""How much a run generates and for how long it measures: the issue's volumes, or a smoke
run's tiny ones (which prove every figure runs, not how fast)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Scale:
    name: str
    organisations: int
    cases: int
    requests: int
    audit_events: int
    # The IG search is measured again once the trail has grown to this many events.
    more_audit_events: int
    deliveries: int
    # Concurrent signed-in users for the page figures, and how long each level runs.
    users: tuple[int, ...]
    seconds: float
    # Partners sending contributions at once, and the answered drafts each has ready.
    submitters: int
    drafts_each: int
    # The upload and download watched for memory.
    big_file_mb: int
    # How much the encryption speed figure encrypts and decrypts.
    crypto_mb: int
    # Events each of the eight concurrent audit writers appends, and how long pgbench runs for
    # the same figure's baseline.
    appends_per_writer: int
    pgbench_seconds: int
    # New events verified incrementally, after the trail's two sizes.
    incremental_events: int
    # Pages of the document whose safe copy is timed (bench/disarm_speed.py).
    disarm_pages: int


FULL = Scale(
    name="full",
    organisations=300,
    cases=50_000,
    requests=200_000,
    audit_events=1_000_000,
    more_audit_events=5_000_000,
    deliveries=10_000,
    users=(1, 10, 50),
    seconds=20,
    submitters=8,
    drafts_each=40,
    big_file_mb=200,
    crypto_mb=256,
    appends_per_writer=2_000,
    pgbench_seconds=10,
    incremental_events=10_000,
    disarm_pages=30,
)

SMOKE = Scale(
    name="smoke",
    organisations=6,
    cases=100,
    requests=800,
    audit_events=2_000,
    more_audit_events=4_000,
    deliveries=40,
    users=(1, 2),
    # locust's CSV counts only requests finished within the run time: on a loaded machine a
    # page can take over a second, and 2 s sometimes left a page with none.
    seconds=3,
    submitters=2,
    drafts_each=2,
    big_file_mb=4,
    crypto_mb=4,
    appends_per_writer=10,
    pgbench_seconds=1,
    incremental_events=100,
    disarm_pages=2,
)
