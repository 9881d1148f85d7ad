"""The reference CMS's fault plan: scripted failures that `/_faults` sets, for tests only.

Each counter affects that many of the next calls it applies to, then runs out.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar


@dataclass(frozen=True)
class InjectedFailure:
    """An error answer to send instead of handling the call."""

    status: int
    code: str
    retry_after: int | None = None


@dataclass
class FaultPlan:
    """Scripted failures, each counting down once per `/api/v1/` call it affects."""

    fail_next: int = 0
    rate_limit_next: int = 0
    retry_after: int = 1
    delay_next: int = 0
    delay_seconds: float = 0.0
    drop_after_commit_next: int = 0
    hold_after_commit_next: int = 0
    hold_seconds: float = 0.0
    reject_next: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    COUNTERS: ClassVar[tuple[str, ...]] = (
        "fail_next",
        "rate_limit_next",
        "delay_next",
        "drop_after_commit_next",
        "hold_after_commit_next",
        "reject_next",
    )
    # Each number setting and its largest allowed value, in seconds.
    SECONDS: ClassVar[dict[str, int]] = {"delay_seconds": 60, "hold_seconds": 120}
    SETTINGS: ClassVar[tuple[str, ...]] = (*COUNTERS, "retry_after", *SECONDS)

    def update(self, settings: dict[str, Any]) -> list[dict[str, str]]:
        """Apply every setting given, or none of them: the errors, empty when all were applied."""
        errors = [
            {"field": name, "message": "must be a whole number, 0 or more"}
            for name in (*self.COUNTERS, "retry_after")
            if name in settings and not _is_count(settings[name])
        ]
        errors += [
            {"field": name, "message": f"must be a number from 0 to {maximum}"}
            for name, maximum in self.SECONDS.items()
            if name in settings and not _is_seconds(settings[name], maximum)
        ]
        if errors:
            return errors
        with self.lock:
            for name in self.SETTINGS:
                if name in settings:
                    setattr(self, name, settings[name])
        return []

    def clear(self) -> None:
        with self.lock:
            for setting in fields(self):
                if setting.name in self.SETTINGS:
                    setattr(self, setting.name, setting.default)

    def state(self) -> dict[str, Any]:
        with self.lock:
            return {name: getattr(self, name) for name in self.SETTINGS}

    def take_api_fault(self) -> tuple[float, InjectedFailure | None]:
        """Consume this call's delay and failure, if any: (seconds to sleep, failure to send)."""
        with self.lock:
            delay = 0.0
            if self.delay_next > 0:
                self.delay_next -= 1
                delay = self.delay_seconds
            if self.fail_next > 0:
                self.fail_next -= 1
                return delay, InjectedFailure(500, "injected_fault")
            if self.rate_limit_next > 0:
                self.rate_limit_next -= 1
                return delay, InjectedFailure(429, "rate_limited", self.retry_after)
        return delay, None

    def take_reject(self) -> bool:
        """Whether this contribution POST is refused before anything is stored."""
        with self.lock:
            if self.reject_next > 0:
                self.reject_next -= 1
                return True
        return False

    def take_after_commit(self) -> tuple[float, bool]:
        """For a committed contribution: (seconds to hold the answer, whether to drop it)."""
        with self.lock:
            hold = 0.0
            if self.hold_after_commit_next > 0:
                self.hold_after_commit_next -= 1
                hold = self.hold_seconds
            drop = self.drop_after_commit_next > 0
            if drop:
                self.drop_after_commit_next -= 1
        return hold, drop


def _is_count(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, int) and value >= 0


def _is_seconds(value: Any, maximum: int) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return 0 <= value <= maximum
