"""How long a safe copy takes per page (PDF and .docx), and the converter's peak memory, each
as a ratio to what this machine does without the disarm engine around it, measured in the same
run.

A Word document of `disarm_pages` pages of text is made at run time; LibreOffice converts it
to PDF directly (no sandbox), and PDFium renders that PDF's pages in this process at the same
resolution as the engine: those are the floors. Then make_safe (portal/disarm) makes a safe copy
of the PDF and of the .docx with the production settings: a converter process started, shut in
(network namespace, limits), LibreOffice's profile written, every page rendered and its raw
pixels sent back, then encoded as JPEG and rebuilt by the caller. Wall clock throughout, as the
worker waits for it. The peak memory is the converter process's largest resident size,
LibreOffice's included, against its memory limit.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pypdfium2 as pdfium

from bench.report import Figure
from bench.stack import Bench
from loopback.documents import docx
from portal.attachments import sniffing
from portal.disarm import SafeCopy, make_safe
from portal.settings import DisarmSettings

# About this many lines of text fill a page in LibreOffice's default style.
LINES_PER_PAGE = 46
MIB = 1024 * 1024


def measure(bench: Bench) -> list[Figure]:
    settings = DisarmSettings()
    lines = bench.scale.disarm_pages * LINES_PER_PAGE
    document = docx(
        [f"Line {n} of a partner's report on the family's situation." for n in range(lines)]
    )
    bench.progress(f"disarm: LibreOffice and PDFium alone, {bench.scale.disarm_pages} pages")
    convert_seconds, pdf = _libreoffice_alone(document, settings.libreoffice)
    render_seconds = _render_alone(pdf, settings.dpi)
    bench.progress("disarm: safe copies of the PDF and the .docx")
    pdf_seconds, pdf_copy = _timed(pdf, sniffing.PDF, settings)
    docx_seconds, docx_copy = _timed(document, sniffing.DOCX, settings)
    pages = pdf_copy.pages or 1
    note = f"{pages} pages of text at {settings.dpi} dpi; wall clock, the process's start included"
    return [
        Figure(
            "safe copy per page, PDF",
            _per_page(pdf_seconds, render_seconds, pages, "PDFium's render alone"),
            note=note,
        ),
        Figure(
            "safe copy per page, .docx",
            _per_page(
                docx_seconds, convert_seconds + render_seconds, pages, "LibreOffice + PDFium alone"
            ),
            note=note,
        ),
        Figure(
            "disarm worker peak memory",
            _peak(docx_copy, settings),
            note=(
                f"the converter process, LibreOffice included, for the .docx "
                f"(the PDF: {(pdf_copy.peak_memory_bytes or 0) / MIB:.0f} MiB)"
            ),
        ),
    ]


def _per_page(seconds: float, floor_seconds: float, pages: int, floor: str) -> str:
    each, floor_each = 1000 * seconds / pages, 1000 * floor_seconds / pages
    return f"{each:.0f} ms = {each / floor_each:.1f} × {floor} ({floor_each:.0f} ms)"


def _peak(copy: SafeCopy, settings: DisarmSettings) -> str:
    peak = (copy.peak_memory_bytes or 0) / MIB
    return (
        f"{peak:.0f} MiB = {peak / settings.memory_mb:.2f} × its limit ({settings.memory_mb} MiB)"
    )


def _timed(plaintext: bytes, media_type: str, settings: DisarmSettings) -> tuple[float, SafeCopy]:
    started = time.perf_counter()
    copy = make_safe(plaintext, media_type, settings)
    return time.perf_counter() - started, copy


def _libreoffice_alone(document: bytes, program: str) -> tuple[float, bytes]:
    """LibreOffice's own conversion to PDF, run directly (its profile made beforehand, as the
    engine's first start in a new profile is part of the engine's cost, not the floor's)."""
    soffice = shutil.which(program)
    if soffice is None:
        raise RuntimeError("LibreOffice is not installed (make libreoffice): a figure needs it")
    with tempfile.TemporaryDirectory(prefix="bench-disarm-") as name:
        directory = Path(name)
        source = directory / "report.docx"
        source.write_bytes(document)
        command = [soffice, "--headless", f"-env:UserInstallation={(directory / 'p').as_uri()}"]
        command += ["--convert-to", "pdf", "--outdir", str(directory / "out"), str(source)]
        # Once untimed, which makes the profile; then timed.
        subprocess.run(command, capture_output=True, check=True)  # noqa: S603
        started = time.perf_counter()
        subprocess.run(command, capture_output=True, check=True)  # noqa: S603
        seconds = time.perf_counter() - started
        return seconds, (directory / "out" / "report.pdf").read_bytes()


def _render_alone(pdf: bytes, dpi: int) -> float:
    document = pdfium.PdfDocument(pdf)
    try:
        started = time.perf_counter()
        for page in document:
            page.render(scale=dpi / 72).close()
            page.close()
        return time.perf_counter() - started
    finally:
        document.close()
