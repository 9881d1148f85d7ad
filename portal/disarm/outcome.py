"""What making a safe copy gives: the safe copy, or the reason it could not be made."""

from __future__ import annotations

from dataclasses import dataclass, field

# Why a document could not be made safe (Attachment.safe_failure; docs/disarm.md "Codes").
TIMEOUT = "timeout"
MEMORY = "memory"
TOO_MANY_PAGES = "too_many_pages"
UNREADABLE = "unreadable"
OUTPUT_TOO_LARGE = "output_too_large"
CONVERTER_MISSING = "converter_missing"
CONVERTER_FAILED = "converter_failed"
SANDBOX_UNAVAILABLE = "sandbox_unavailable"

CODES = frozenset(
    {
        TIMEOUT,
        MEMORY,
        TOO_MANY_PAGES,
        UNREADABLE,
        OUTPUT_TOO_LARGE,
        CONVERTER_MISSING,
        CONVERTER_FAILED,
        SANDBOX_UNAVAILABLE,
    }
)


@dataclass(frozen=True)
class SafeCopy:
    """A document rebuilt from what it shows: `pages` for a PDF, None for an image or text.

    `peak_memory_bytes` is the converter process's largest resident size (LibreOffice's
    included), for the benchmarks; it takes no part in comparisons.
    """

    content: bytes
    content_type: str
    pages: int | None
    peak_memory_bytes: int | None = field(default=None, compare=False)


class CouldNotMakeSafe(Exception):
    """The document could not be made safe; `code` says why (one of CODES)."""

    def __init__(self, code: str) -> None:
        if code not in CODES:
            raise ValueError(f"unknown reason a safe copy could not be made: {code!r}")
        super().__init__(code)
        self.code = code
