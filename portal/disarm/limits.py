"""The sizes of picture the converter may make and the worker accepts: one rule for both sides."""

from __future__ import annotations

from portal.settings import DisarmSettings

# 40 million pixels: an A0 page at 150 dpi is 35 million. Larger pages are rendered smaller.
PAGE_PIXEL_CAP = 40_000_000
# A JPEG's width and height are 16-bit numbers.
MAX_JPEG_SIDE = 65_535
# Room for a decoded image (up to 4 bytes a pixel) several times over while it is converted,
# within the converter's memory limit.
_BYTES_PER_PIXEL_BUDGET = 16


def pixel_limit(settings: DisarmSettings) -> int:
    """The most pixels an image may have."""
    return settings.memory_mb * 1024 * 1024 // _BYTES_PER_PIXEL_BUDGET


def page_pixel_cap(settings: DisarmSettings) -> int:
    """The most pixels a page's picture may have."""
    return min(PAGE_PIXEL_CAP, pixel_limit(settings))
