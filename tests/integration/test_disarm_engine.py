"""The content disarm engine on real converters (PDFium, Pillow, LibreOffice) and hostile files
built at test time (tests/support/disarm_inputs.py): what a safe copy holds, and that a hostile
file is refused within the converter's limits with the right code.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
import pytest
from PIL import Image

from portal.attachments import sniffing
from portal.disarm import CouldNotMakeSafe, SafeCopy, engine, make_safe, office
from portal.settings import DisarmSettings
from tests.support import disarm_inputs as inputs

SETTINGS = DisarmSettings(wall_seconds=60)


@pytest.fixture(scope="module")
def libreoffice() -> None:
    if shutil.which("soffice") is None:
        message = "LibreOffice is not installed (make libreoffice)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message}; CI=true requires it", pytrace=False)
        pytest.skip(message)


@pytest.fixture
def private_directories(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Each private directory make_safe makes for LibreOffice (other tests on this machine may
    be making their own at the same time: only these are this test's)."""
    made: list[Path] = []

    @contextlib.contextmanager
    def recorded() -> Iterator[Path]:
        with office.private_directory() as directory:
            made.append(directory)
            yield directory

    monkeypatch.setattr(engine, "private_directory", recorded)
    return made


def refusal(plaintext: bytes, media_type: str, settings: DisarmSettings = SETTINGS) -> str:
    started = time.monotonic()
    with pytest.raises(CouldNotMakeSafe) as refused:
        make_safe(plaintext, media_type, settings)
    assert time.monotonic() - started < settings.wall_seconds + 5
    return refused.value.code


def opened(copy: SafeCopy) -> pdfium.PdfDocument:
    assert copy.content_type == "application/pdf"
    assert copy.content.startswith(b"%PDF-")
    return pdfium.PdfDocument(copy.content)


def test_a_pdf_with_javascript_actions_attachments_links_and_forms_keeps_only_its_pages() -> None:
    hostile = inputs.active_pdf()
    original = pdfium.PdfDocument(hostile)
    assert original.count_attachments() == 1  # the hostile file is what it says
    assert pdfium_c.FPDFPage_GetAnnotCount(original[0]) == 3
    assert all(name in hostile for name in inputs.ACTIVE_NAMES)
    original.close()

    copy = make_safe(hostile, sniffing.PDF, SETTINGS)

    assert copy.pages == 2
    assert [name for name in inputs.ACTIVE_NAMES if name in copy.content] == []
    document = opened(copy)
    assert len(document) == 2
    assert document.count_attachments() == 0
    for page in document:
        assert pdfium_c.FPDFPage_GetAnnotCount(page) == 0
        kinds = [item.type for item in page.get_objects()]
        assert kinds == [pdfium_c.FPDF_PAGEOBJ_IMAGE]  # one picture, no text, no paths
        assert page.get_textpage().count_chars() == 0
        assert page.get_size() == pytest.approx((595, 842), abs=1)
    document.close()


def test_the_rebuilt_page_shows_what_the_original_showed() -> None:
    copy = make_safe(inputs.plain_pdf(1), sniffing.PDF, SETTINGS)
    document = opened(copy)
    picture = document[0].render(scale=1).to_pil().convert("L")
    document.close()
    # The text line near the top of the page is there, in dark pixels, and nothing else.
    assert picture.crop((60, 100, 400, 130)).getextrema()[0] < 80
    assert picture.crop((0, 300, 595, 842)).getextrema()[0] > 200


def test_a_pdf_of_more_pages_than_allowed_is_refused_before_any_is_rendered() -> None:
    settings = DisarmSettings(wall_seconds=60, max_pages=10)
    assert refusal(inputs.plain_pdf(11), sniffing.PDF, settings) == "too_many_pages"
    assert make_safe(inputs.plain_pdf(10), sniffing.PDF, settings).pages == 10


@pytest.mark.parametrize(
    ("build", "media_type"),
    [
        (
            lambda _tmp: inputs.docx(["Safe copy of a partner's report", "Second paragraph"]),
            sniffing.DOCX,
        ),
        (
            lambda _tmp: inputs.odt(["Safe copy of a partner's report", "Second paragraph"]),
            sniffing.ODT,
        ),
        (lambda _tmp: inputs.odp(["A slide of a partner's presentation"]), sniffing.ODP),
        (
            lambda tmp: inputs.xlsx_by_libreoffice([["Name", "Visits"], ["Alpha", "12"]], tmp),
            sniffing.XLSX,
        ),
    ],
    ids=["docx", "odt", "odp", "xlsx"],
)
def test_an_office_document_becomes_a_pdf_of_its_pages(
    libreoffice: None,
    private_directories: list[Path],
    tmp_path: Path,
    build: Callable[[Path], bytes],
    media_type: str,
) -> None:
    document_bytes = build(tmp_path)
    assert sniffing.detect_type(document_bytes) == media_type  # what the upload would find

    copy = make_safe(document_bytes, media_type, SETTINGS)

    assert copy.pages == 1
    document = opened(copy)
    picture = document[0].render(scale=1).to_pil().convert("L")
    document.close()
    assert picture.getextrema()[0] < 80  # the text is drawn
    assert [name for name in inputs.ACTIVE_NAMES if name in copy.content] == []
    # LibreOffice's profile, the document and its PDF were in memory, and are gone.
    (directory,) = private_directories
    assert directory.parent == office.MEMORY_DIRECTORY and not directory.exists()


def _magenta(pdf: bytes) -> int:
    """How many pixels of the PDF's first page are the test picture's magenta."""
    document = pdfium.PdfDocument(pdf)
    picture = document[0].render(scale=0.5).to_pil().convert("RGB")
    document.close()
    colours = picture.getcolors(picture.width * picture.height) or []
    return sum(n for n, (red, green, blue) in colours if red > 240 and green < 20 and blue > 240)


def test_an_office_document_cannot_pull_a_file_of_this_machine_into_its_copy(
    libreoffice: None, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.png"
    Image.new("RGB", (200, 200), (255, 0, 255)).save(secret)
    linking = inputs.docx_linking_image(secret)
    # LibreOffice as it comes does fetch the linked file while converting: the hostile part.
    source = tmp_path / "linking.docx"
    source.write_bytes(linking)
    profile = (tmp_path / "profile").as_uri()
    command = ["soffice", "--headless", f"-env:UserInstallation={profile}", "--convert-to"]
    subprocess.run(
        [*command, "pdf", "--outdir", str(tmp_path), str(source)], capture_output=True, check=True
    )
    assert _magenta((tmp_path / "linking.pdf").read_bytes()) > 1000

    copy = make_safe(linking, sniffing.DOCX, SETTINGS)

    assert copy.pages == 1
    assert _magenta(copy.content) == 0


def test_a_photo_loses_its_exif_gps_position_and_every_other_piece_of_metadata() -> None:
    photo = inputs.jpeg_with_gps()
    with Image.open(io.BytesIO(photo)) as original:
        assert original.getexif().get_ifd(0x8825)  # the GPS position is there to lose
    assert b"secret" in photo

    copy = make_safe(photo, sniffing.JPEG, SETTINGS)

    assert copy.content_type == sniffing.JPEG and copy.pages is None
    with Image.open(io.BytesIO(copy.content)) as image:
        assert image.format == "JPEG" and image.size == (320, 240)
        assert not image.getexif()
        assert not {"exif", "icc_profile", "comment", "xmp"} & set(image.info)
    assert b"secret" not in copy.content and b"Hostile Camera" not in copy.content


def test_a_png_loses_its_text_chunks_exif_and_profile_and_keeps_its_transparency() -> None:
    png = inputs.png_with_text()
    copy = make_safe(png, sniffing.PNG, SETTINGS)

    for chunk in (b"tEXt", b"iTXt", b"zTXt", b"eXIf", b"iCCP"):
        assert chunk in png or chunk == b"zTXt"
        assert chunk not in copy.content
    with Image.open(io.BytesIO(copy.content)) as image:
        assert (image.format, image.mode, image.size) == ("PNG", "RGBA", (64, 48))
        assert image.getpixel((0, 0)) == (10, 200, 10, 128)


def _png(image: Image.Image, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, "PNG", **options)
    return out.getvalue()


def test_png_modes_come_back_as_grey_or_rgb_keeping_transparency_and_levels() -> None:
    palette = Image.new("P", (8, 8), 1)
    palette.putpalette([0, 0, 0, 250, 20, 20])
    sixteen_bit = Image.new("I;16", (8, 8), 32_768)
    for original, options, mode, pixel in (
        (palette, {"transparency": 0}, "RGBA", (250, 20, 20, 255)),
        (palette, {}, "RGB", (250, 20, 20)),
        (sixteen_bit, {}, "L", 128),
        (Image.new("1", (8, 8), 1), {}, "L", 255),
    ):
        copy = make_safe(_png(original, **options), sniffing.PNG, SETTINGS)
        with Image.open(io.BytesIO(copy.content)) as image:
            assert (image.mode, image.getpixel((3, 3))) == (mode, pixel)


def test_a_png_decompression_bomb_is_refused_without_being_decoded() -> None:
    bomb = inputs.png_bomb()  # 1.6 billion pixels in a few hundred kilobytes
    assert len(bomb) < 1024 * 1024
    assert refusal(bomb, sniffing.PNG) == "memory"


def test_text_is_re_encoded_without_a_byte_order_mark_or_control_characters() -> None:
    copy = make_safe(
        b"\xef\xbb\xbfDear social worker,\r\n\x1b[2Jcaf\xc3\xa9\x07\tend\n", "text/plain", SETTINGS
    )
    assert copy.content == "Dear social worker,\r\n\ufffd[2Jcafé\ufffd\tend\n".encode()
    # Bidirectional overrides, embeddings and isolates would show "invoice\u202egnp.exe" as
    # "invoiceexe.png": they go too; right-to-left and left-to-right marks stay.
    spoofing = "invoice\u202egnp.exe \u202ax\u202c \u2067y\u2069 \u200f\u200e\n"
    copy = make_safe(spoofing.encode(), "text/plain", SETTINGS)
    assert (
        copy.content == "invoice\ufffdgnp.exe \ufffdx\ufffd \ufffdy\ufffd \u200f\u200e\n".encode()
    )
    assert copy.content_type == "text/plain" and copy.pages is None
    assert refusal(b"not \xff UTF-8", "text/plain") == "unreadable"
    assert refusal(b"a NUL \x00 here", "text/plain") == "unreadable"


def test_a_large_document_goes_through_the_pipes_both_ways_whole() -> None:
    """The caller writes 60 MB while the converter reads, then reads 60 MB back: neither side
    stalls on a full pipe."""
    text = ("A line of a long statement, café.\n" * 1_900_000).encode()
    copy = make_safe(text, "text/plain", SETTINGS)
    assert copy.content == text


def test_a_page_of_the_largest_size_pdf_allows_is_rendered_at_a_lower_resolution() -> None:
    copy = make_safe(inputs.enormous_page_pdf(), sniffing.PDF, SETTINGS)
    document = opened(copy)
    assert document[0].get_size() == pytest.approx((14_400, 14_400), rel=0.01)
    image = document[0].get_objects().__next__()
    width, height = image.get_px_size()
    assert width * height <= 40_000_000
    document.close()


@pytest.mark.parametrize(
    ("build", "codes"),
    [
        # a page 140 km on a side: too large even at one pixel an inch
        (lambda: inputs.enormous_page_pdf(10_000_000), {"memory"}),
        # page trees that contain themselves and claim a billion, or a million, pages: the
        # count is a lie (no page past the limit can be loaded), not too many pages
        (inputs.cyclic_pages_pdf, {"unreadable"}),
        (inputs.self_referencing_pages_pdf, {"unreadable"}),
        # a content stream of 1.3 MB that inflates to 512 MiB of lines to draw
        (inputs.content_bomb_pdf, {"memory"}),
        # not a PDF at all
        (lambda: b"%PDF-1.7\n" + os.urandom(4096), {"unreadable"}),
    ],
    ids=["enormous-page", "cyclic-page-tree", "self-page-tree", "content-stream-bomb", "garbage"],
)
def test_a_pathological_pdf_is_refused_within_the_limits(build: object, codes: set[str]) -> None:
    settings = DisarmSettings(wall_seconds=30, memory_mb=1024, cpu_seconds=30)
    assert refusal(build(), sniffing.PDF, settings) in codes  # type: ignore[operator]


def test_arrays_nested_two_hundred_thousand_deep_do_not_stop_the_page_rendering() -> None:
    copy = make_safe(inputs.deep_nesting_pdf(), sniffing.PDF, SETTINGS)
    assert copy.pages == 1


def test_a_copy_larger_than_allowed_is_refused() -> None:
    noise = Image.frombytes("RGB", (1000, 1000), os.urandom(3_000_000))
    out = io.BytesIO()
    noise.save(out, "PNG")
    settings = DisarmSettings(max_output_bytes=1024 * 1024)
    assert refusal(out.getvalue(), sniffing.PNG, settings) == "output_too_large"


def test_an_office_document_libreoffice_cannot_load_is_unreadable(libreoffice: None) -> None:
    broken = inputs.docx(["Hello"])[:200]  # the first member's start, and no more
    assert refusal(broken, sniffing.DOCX) == "unreadable"


def test_a_kind_with_no_converter_and_a_missing_libreoffice_are_named() -> None:
    assert refusal(b"PK\x03\x04", sniffing.ZIP) == "converter_missing"
    settings = DisarmSettings(libreoffice="/nonexistent/soffice")
    assert refusal(inputs.docx(["Hello"]), sniffing.DOCX, settings) == "converter_missing"


def test_the_peak_memory_of_the_converter_is_measured() -> None:
    copy = make_safe(inputs.plain_pdf(1), sniffing.PDF, SETTINGS)
    assert copy.peak_memory_bytes is not None
    assert 10 * 1024 * 1024 < copy.peak_memory_bytes < SETTINGS.memory_mb * 1024 * 1024


def _processes_with(text: str) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        try:
            command = (entry / "cmdline").read_bytes()
        except OSError:  # not a process, or it has just gone
            continue
        if text.encode() in command:
            found.add(int(entry.name))
    return found


def test_at_the_time_limit_the_converter_and_libreoffice_are_killed_together(
    libreoffice: None, private_directories: list[Path]
) -> None:
    slow = inputs.docx([f"Paragraph {number} of a very long report" for number in range(80_000)])
    settings = DisarmSettings(wall_seconds=5, max_pages=10_000)
    # LibreOffice's processes name their profile, in the private directory, on their command
    # line: watched while the conversion runs, so the test knows they were there to be killed.
    seen: set[int] = set()
    done = threading.Event()

    def watch() -> None:
        while not done.wait(0.1):
            for directory in private_directories:
                seen.update(_processes_with(str(directory)))

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        assert refusal(slow, sniffing.DOCX, settings) == "timeout"
    finally:
        done.set()
        watcher.join()

    (directory,) = private_directories
    assert seen  # LibreOffice was running when the time ran out
    # And nothing of it is left, once the kernel has finished the kills it was sent: tearing
    # down the sandbox's PID namespace takes a moment on a busy machine (seen in a full run).
    deadline = time.monotonic() + 5
    while _processes_with(str(directory)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _processes_with(str(directory)) == set()
    assert not directory.exists()
