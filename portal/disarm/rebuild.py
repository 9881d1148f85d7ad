"""Which rebuild each kind of document gets (run inside the converter process only)."""

from __future__ import annotations

from pathlib import Path

from portal.attachments import sniffing
from portal.disarm.images import rebuild_image
from portal.disarm.kinds import IMAGES, OFFICE_EXTENSIONS
from portal.disarm.office import office_to_pdf
from portal.disarm.outcome import (
    CONVERTER_FAILED,
    CONVERTER_MISSING,
    OUTPUT_TOO_LARGE,
    CouldNotMakeSafe,
    SafeCopy,
)
from portal.disarm.pdf import rebuild_pdf
from portal.disarm.text import rebuild_text
from portal.settings import DisarmSettings


def rebuild(
    plaintext: bytes, media_type: str, settings: DisarmSettings, directory: Path | None
) -> SafeCopy:
    """The safe copy; `directory` is the private directory an office document needs."""
    copy = _rebuild(plaintext, media_type, settings, directory)
    if len(copy.content) > settings.max_output_bytes:
        raise CouldNotMakeSafe(OUTPUT_TOO_LARGE)
    return copy


def _rebuild(
    plaintext: bytes, media_type: str, settings: DisarmSettings, directory: Path | None
) -> SafeCopy:
    if media_type == sniffing.PDF:
        return rebuild_pdf(plaintext, settings)
    if media_type in IMAGES:
        return rebuild_image(plaintext, media_type, settings)
    if media_type in OFFICE_EXTENSIONS:
        if directory is None:
            raise CouldNotMakeSafe(CONVERTER_FAILED)
        pdf = office_to_pdf(plaintext, OFFICE_EXTENSIONS[media_type], settings, directory)
        return rebuild_pdf(pdf, settings)
    if media_type == sniffing.TEXT:
        return rebuild_text(plaintext)
    raise CouldNotMakeSafe(CONVERTER_MISSING)
