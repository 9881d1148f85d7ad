"""How long a delivery waits before its next attempt."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from portal.config import Settings, load_settings
from portal.connector.adapter import CmsFailure
from portal.connector.outcomes import failed_attempt, retry_delay
from portal.connector.rest import _retry_after
from portal.lifecycle import OutboxStatus


@pytest.fixture
def settings() -> Settings:
    return load_settings(
        environ={"PORTAL_ENV": "test"},
        overrides={"cms": {"retry_base_seconds": 10, "retry_ceiling_seconds": 3600}},
    )


@pytest.mark.parametrize(
    ("attempt", "full"), [(1, 10), (2, 20), (3, 40), (8, 1280), (9, 2560), (10, 3600), (60, 3600)]
)
def test_backoff_doubles_up_to_the_ceiling_with_jitter(
    settings: Settings, attempt: int, full: float
) -> None:
    delays = [retry_delay(settings, attempt).total_seconds() for _ in range(200)]
    assert all(full / 2 <= delay <= full for delay in delays)
    assert len(set(delays)) > 150, "jittered, so an outage's backlog does not return at once"


def test_retry_after_is_a_floor_never_shortened(settings: Settings) -> None:
    assert retry_delay(settings, 1, retry_after=120) == timedelta(seconds=120)
    assert retry_delay(settings, 1, retry_after=1) >= timedelta(seconds=5)  # backoff is longer
    assert retry_delay(settings, 1, retry_after=10**9) == timedelta(days=1)  # capped


def test_retry_after_seconds_or_an_http_date() -> None:
    assert _retry_after("7") == 7.0
    later = datetime.now(UTC) + timedelta(seconds=90)
    parsed = _retry_after(format_datetime(later, usegmt=True))
    assert parsed is not None and 85 <= parsed <= 90
    past = datetime.now(UTC) - timedelta(hours=1)
    assert _retry_after(format_datetime(past, usegmt=True)) == 0.0
    assert _retry_after("soon") is None
    assert _retry_after(None) is None
    assert _retry_after("") is None


@pytest.mark.parametrize("asked", [1e20, float("inf"), float("nan"), -5.0])
def test_an_absurd_retry_after_cannot_stop_the_worker(settings: Settings, asked: float) -> None:
    delay = retry_delay(settings, 1, retry_after=asked)
    assert timedelta(seconds=5) <= delay <= timedelta(days=1)


def test_a_failed_attempt_waits_from_the_cms_answer(settings: Settings) -> None:
    answered = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    failed = failed_attempt(
        settings, 1, CmsFailure("cms_http_429", permanent=False, retry_after=120), answered
    )
    assert (failed.final, failed.outcome) == (False, "retrying")
    assert failed.retry_in == timedelta(seconds=120)
    assert failed.retry_at == answered + timedelta(seconds=120)
    assert failed.row_values() == {
        "last_error": "cms_http_429",
        "claimed_by": None,
        "claimed_at": None,
        "next_attempt_at": answered + timedelta(seconds=120),
    }


@pytest.mark.parametrize(
    ("attempt", "permanent"), [(1, True), (30, False)], ids=["permanent", "last attempt"]
)
def test_a_permanent_or_last_failure_dead_letters(
    settings: Settings, attempt: int, permanent: bool
) -> None:
    failure = CmsFailure("cms_http_422", permanent=permanent, reason="answers")
    failed = failed_attempt(settings, attempt, failure, datetime.now(UTC))
    assert (failed.final, failed.outcome, failed.retry_in, failed.retry_at) == (
        True,
        "dead_lettered",
        None,
        None,
    )
    assert failed.row_values() == {
        "last_error": "cms_http_422: answers",
        "claimed_by": None,
        "claimed_at": None,
        "status": OutboxStatus.DEAD_LETTERED,
    }
