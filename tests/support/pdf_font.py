"""The font the copy's PDF is set in (Debian's fonts-dejavu-core, portal/contributions/copy_pdf.py):
tests that make that PDF are skipped without it, except in CI, where they fail."""

from __future__ import annotations

import os

import pytest

from portal.contributions.copy_pdf import FONT_DIRECTORY, FONT_FILES, FONT_PACKAGE


def require_pdf_font() -> None:
    if not all((FONT_DIRECTORY / name).is_file() for name in FONT_FILES.values()):
        message = f"DejaVu Sans is not installed (make fonts installs Debian's {FONT_PACKAGE})"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message}; CI=true requires it", pytrace=False)
        pytest.skip(message)
