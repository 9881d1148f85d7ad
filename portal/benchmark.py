"""The benchmark-only switch that turns encryption and the audit trail off, so `make bench`
can measure what they cost: the "security tax" in docs/benchmarks.md.

It follows `[benchmark] security_off`, which portal/config.py refuses in every environment
but `bench` (PORTAL_ENV=bench, set only by bench/ for a throwaway database of its own). While
it is on, sealed columns and documents are stored as plaintext (portal/crypto/records.py,
portal/attachments/store.py) and no audit event is written (portal/audit/record.py): the
same code paths otherwise, so the difference is what encryption and audit cost.
"""

from __future__ import annotations

from portal.config import ConfigError
from portal.settings import Settings

_switch = {"security_off": False}


def apply(settings: Settings) -> None:
    """Set the switch from the process's settings (every app the process makes sets it).
    Settings built without portal.config's checks are checked again here."""
    if settings.benchmark.security_off and settings.environment != "bench":
        raise ConfigError("[benchmark] security_off is allowed only with PORTAL_ENV=bench.")
    _switch["security_off"] = settings.benchmark.security_off


def security_off() -> bool:
    return _switch["security_off"]
