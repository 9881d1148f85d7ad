"""What the converter sends for each kind of document (run inside the converter process only):
pages' pixels for a PDF or an office document, an image's pixels, or text."""

from __future__ import annotations

from pathlib import Path

from portal.attachments import sniffing
from portal.disarm.images import send_image
from portal.disarm.kinds import IMAGES, OFFICE_EXTENSIONS
from portal.disarm.office import office_to_pdf
from portal.disarm.outcome import CONVERTER_FAILED, CONVERTER_MISSING, CouldNotMakeSafe
from portal.disarm.pdf import send_pages
from portal.disarm.protocol import Answer
from portal.disarm.text import clean_text
from portal.settings import DisarmSettings


def convert(
    plaintext: bytes,
    media_type: str,
    settings: DisarmSettings,
    directory: Path | None,
    answer: Answer,
) -> None:
    """Send what `plaintext` shows; `directory` is the private directory an office document
    needs."""
    if media_type == sniffing.PDF:
        send_pages(plaintext, settings, answer)
    elif media_type in IMAGES:
        send_image(plaintext, media_type, settings, answer)
    elif media_type in OFFICE_EXTENSIONS:
        if directory is None:
            raise CouldNotMakeSafe(CONVERTER_FAILED)
        pdf = office_to_pdf(plaintext, OFFICE_EXTENSIONS[media_type], settings, directory)
        send_pages(pdf, settings, answer)
    elif media_type == sniffing.TEXT:
        answer.text(clean_text(plaintext))
    else:
        raise CouldNotMakeSafe(CONVERTER_MISSING)
