"""The worker's side of the trust boundary (portal.disarm.answer): what it makes of the
converter's answer, honest or hostile. A converter taken over by a document can answer
anything, so these answers are written here byte for byte (honest ones with the converter's own
writer, portal.disarm.protocol.Answer) and fed to the reader as the pipe would, in pieces.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Callable

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
import pytest
from PIL import Image

from portal.attachments import sniffing
from portal.disarm.answer import AnswerReader
from portal.disarm.outcome import CouldNotMakeSafe, SafeCopy
from portal.disarm.protocol import RECORD_LIMIT, Answer
from portal.settings import DisarmSettings

SETTINGS = DisarmSettings(max_pages=3)
RED = (200, 30, 30)


def written(*steps: Callable[[Answer], None]) -> bytes:
    sink = io.BytesIO()
    answer = Answer(sink)
    for step in steps:
        step(answer)
    return sink.getvalue()


def line(**fields: object) -> bytes:
    return json.dumps(fields).encode() + b"\n"


def page(width: int = 150, height: int = 100) -> Image.Image:
    return Image.new("RGB", (width, height), RED)


def fed(
    answer: bytes, media_type: str, settings: DisarmSettings = SETTINGS, piece: int = 4099
) -> AnswerReader:
    reader = AnswerReader(media_type, settings)
    for start in range(0, len(answer), piece):
        if not reader.feed(answer[start : start + piece]):
            break
    return reader


def read(answer: bytes, media_type: str, settings: DisarmSettings = SETTINGS) -> SafeCopy:
    return fed(answer, media_type, settings).safe_copy(converter_ended="converter_failed")


def refused(
    answer: bytes,
    media_type: str,
    settings: DisarmSettings = SETTINGS,
    ended: str = "converter_failed",
) -> str:
    with pytest.raises(CouldNotMakeSafe) as refusal:
        fed(answer, media_type, settings).safe_copy(converter_ended=ended)
    return refusal.value.code


def test_pages_of_pixels_become_a_pdf_of_jpegs_made_here_each_page_its_size() -> None:
    answer = written(
        lambda a: a.pages(2), lambda a: a.page(page(), 72), lambda a: a.page(page(), 36)
    )

    copy = read(answer, sniffing.PDF)

    assert (copy.content_type, copy.pages) == ("application/pdf", 2)
    document = pdfium.PdfDocument(copy.content)
    # 150 × 100 pixels at 72 dpi is 150 × 100 points; at 36 dpi twice that.
    assert [p.get_size() for p in document] == [(150, 100), (300, 200)]
    for rebuilt in document:
        assert [item.type for item in rebuilt.get_objects()] == [pdfium_c.FPDF_PAGEOBJ_IMAGE]
        colour = rebuilt.render(scale=1).to_pil().convert("RGB").getpixel((75, 50))
        assert all(abs(a - b) < 8 for a, b in zip(colour, RED, strict=True))
    document.close()


def test_what_the_answer_must_hold_is_decided_by_the_documents_type_not_the_converter() -> None:
    text = written(lambda a: a.text(b"%PDF-1.7 /JavaScript"))
    pages = written(lambda a: a.pages(1), lambda a: a.page(page(), 72))
    assert refused(text, sniffing.PDF) == "converter_failed"
    assert refused(text, sniffing.DOCX) == "converter_failed"
    assert refused(pages, sniffing.TEXT) == "converter_failed"
    assert refused(pages, sniffing.PNG) == "converter_failed"
    # A JPEG cannot come back with transparency, nor a page in any mode but RGB.
    rgba = Image.new("RGBA", (4, 4))
    assert refused(written(lambda a: a.image(rgba)), sniffing.JPEG) == "converter_failed"
    grey = written(lambda a: a.pages(1), lambda a: a.page(Image.new("L", (4, 4)), 72))
    assert refused(grey, sniffing.PDF) == "converter_failed"


@pytest.mark.parametrize("side", [100_000, 6_325], ids=["100000x100000", "just-over-40M"])
def test_a_page_over_the_pixel_cap_is_refused_before_its_bytes_are_read(side: int) -> None:
    header = line(kind="page", width=side, height=side, mode="RGB", dpi=150, length=side**2 * 3)
    reader = AnswerReader(sniffing.PDF, SETTINGS)
    assert reader.feed(line(kind="pages", count=1, length=0))
    assert not reader.feed(header)  # no more wanted: none of its pixels is read
    with pytest.raises(CouldNotMakeSafe) as refusal:
        reader.safe_copy(converter_ended="timeout")
    assert refusal.value.code == "converter_failed"


@pytest.mark.parametrize(
    "record",
    [
        # the byte count disagrees with the size
        {"kind": "page", "width": 10, "height": 10, "mode": "RGB", "dpi": 72, "length": 299},
        {"kind": "page", "width": 10, "height": 10, "mode": "RGB", "dpi": 72, "length": 301},
        # a resolution above the one asked for, or none
        {"kind": "page", "width": 10, "height": 10, "mode": "RGB", "dpi": 151, "length": 300},
        {"kind": "page", "width": 10, "height": 10, "mode": "RGB", "dpi": 0, "length": 300},
        # sizes that are not sizes
        {"kind": "page", "width": True, "height": 10, "mode": "RGB", "dpi": 72, "length": 30},
        {"kind": "page", "width": 0, "height": 10, "mode": "RGB", "dpi": 72, "length": 0},
        {"kind": "page", "width": 10.0, "height": 10, "mode": "RGB", "dpi": 72, "length": 300},
        {"kind": "page", "width": 10, "height": 10, "mode": "CMYK", "dpi": 72, "length": 400},
        # a field more, a field fewer, a kind unknown
        {
            "kind": "page",
            "width": 10,
            "height": 10,
            "mode": "RGB",
            "dpi": 72,
            "length": 300,
            "x": 1,
        },
        {"kind": "page", "width": 10, "height": 10, "mode": "RGB", "length": 300},
        {"kind": "pdf", "length": 300},
        # a page wider than a JPEG can be, within the pixel cap
        {"kind": "page", "width": 70_000, "height": 1, "mode": "RGB", "dpi": 72, "length": 210_000},
    ],
)
def test_a_page_record_not_exactly_as_the_protocol_says_is_refused(
    record: dict[str, object],
) -> None:
    # Exactly as many bytes follow as the record declares: only the record itself is wrong.
    declared = record["length"] if isinstance(record["length"], int) else 0
    answer = line(kind="pages", count=1, length=0) + line(**record) + bytes(declared)
    assert refused(answer, sniffing.PDF) == "converter_failed"


def test_more_pages_than_allowed_are_refused_and_more_than_announced_are_malformed() -> None:
    four = written(lambda a: a.pages(4))
    assert refused(four, sniffing.PDF) == "too_many_pages"
    one_more = written(
        lambda a: a.pages(1), lambda a: a.page(page(), 72), lambda a: a.page(page(), 72)
    )
    assert refused(one_more, sniffing.PDF) == "converter_failed"
    # Pages before any count, and a second count, are not the protocol either.
    assert refused(written(lambda a: a.page(page(), 72)), sniffing.PDF) == "converter_failed"
    twice = written(lambda a: a.pages(1), lambda a: a.pages(1))
    assert refused(twice, sniffing.PDF) == "converter_failed"


def test_text_is_checked_and_cleaned_here_whatever_the_converter_sent() -> None:
    sent = "caf\u00e9 \x1b[2J invoice\u202egnp.exe \u2066x\u2069\n".encode()
    copy = read(written(lambda a: a.text(sent)), sniffing.TEXT)
    assert copy.content == "caf\u00e9 \ufffd[2J invoice\ufffdgnp.exe \ufffdx\ufffd\n".encode()
    assert (copy.content_type, copy.pages) == ("text/plain", None)
    assert read(written(lambda a: a.text(b"")), sniffing.TEXT).content == b""
    assert (
        refused(written(lambda a: a.text(b"not \xff UTF-8")), sniffing.TEXT) == "converter_failed"
    )
    assert refused(written(lambda a: a.text(b"a NUL \x00")), sniffing.TEXT) == "converter_failed"


def test_an_answer_cut_short_is_refused_for_the_way_the_converter_ended() -> None:
    whole = written(
        lambda a: a.pages(2), lambda a: a.page(page(), 72), lambda a: a.page(page(), 72)
    )
    for cut in (0, 20, len(whole) // 2, len(whole) - 1):
        assert refused(whole[:cut], sniffing.PDF, ended="timeout") == "timeout"
        assert refused(whole[:cut], sniffing.PDF, ended="memory") == "memory"
    text = written(lambda a: a.text(b"Hello"))
    assert refused(text[:-1], sniffing.TEXT, ended="converter_failed") == "converter_failed"


def test_bytes_after_the_end_of_the_answer_are_malformed() -> None:
    text = written(lambda a: a.text(b"Hello"))
    assert read(text, sniffing.TEXT).content == b"Hello"
    assert refused(text + b"!", sniffing.TEXT) == "converter_failed"
    assert refused(text + line(code="unreadable", length=0), sniffing.TEXT) == "converter_failed"


def test_the_converters_reason_is_taken_only_if_it_is_a_known_code() -> None:
    assert refused(written(lambda a: a.fail("unreadable")), sniffing.PDF) == "unreadable"
    assert (
        refused(written(lambda a: a.fail("all fine, trust me")), sniffing.PDF) == "converter_failed"
    )
    # after some pages, too
    partly = written(lambda a: a.pages(2), lambda a: a.page(page(), 72), lambda a: a.fail("memory"))
    assert refused(partly, sniffing.PDF) == "memory"


def test_a_record_line_longer_than_any_record_is_refused_unread() -> None:
    reader = AnswerReader(sniffing.PDF, SETTINGS)
    assert not reader.feed(b"{" + b" " * RECORD_LIMIT)
    with pytest.raises(CouldNotMakeSafe) as refusal:
        reader.safe_copy(converter_ended="timeout")
    assert refusal.value.code == "converter_failed"


def test_an_image_over_the_pixel_limit_is_refused_and_a_copy_over_the_output_limit_too() -> None:
    small = DisarmSettings(memory_mb=256)  # 16,777,216 pixels: 4096 × 4096
    for side, wanted in ((4096, True), (4097, False)):
        reader = AnswerReader(sniffing.PNG, small)
        image = line(kind="image", width=side, height=side, mode="L", length=side * side)
        assert reader.feed(image) is wanted
    assert reader.refusal == "converter_failed"
    noise = Image.frombytes("RGB", (1024, 1024), os.urandom(3 * 1024 * 1024))
    tight = DisarmSettings(max_output_bytes=1024 * 1024)
    assert refused(written(lambda a: a.image(noise)), sniffing.PNG, tight) == "output_too_large"
    pages = written(lambda a: a.pages(2), lambda a: a.page(noise, 72), lambda a: a.page(noise, 72))
    assert refused(pages, sniffing.PDF, tight) == "output_too_large"
    assert refused(written(lambda a: a.text(b"x" * (1024 * 1024 + 1))), sniffing.TEXT, tight) == (
        "output_too_large"
    )


def test_an_image_is_encoded_here_from_its_pixels_transparency_and_all() -> None:
    picture = Image.new("RGBA", (64, 48), (10, 200, 10, 128))
    copy = read(written(lambda a: a.image(picture)), sniffing.PNG)
    assert (copy.content_type, copy.pages) == ("image/png", None)
    with Image.open(io.BytesIO(copy.content)) as image:
        assert (image.format, image.mode, image.size) == ("PNG", "RGBA", (64, 48))
        assert image.getpixel((63, 47)) == (10, 200, 10, 128)
    photo = read(written(lambda a: a.image(page())), sniffing.JPEG)
    with Image.open(io.BytesIO(photo.content)) as image:
        assert (image.format, image.mode, image.size) == ("JPEG", "RGB", (150, 100))
