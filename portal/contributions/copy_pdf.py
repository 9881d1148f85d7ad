"""The copy of what was sent as a PDF (fpdf2), carrying its receipt: the receipt's JSON and
the canonical content its digest covers are embedded files, so the public verification page
(portal/receipts) and anyone with the council's public key can check it.

The text is set in DejaVu Sans (Debian's fonts-dejavu-core), embedded as a subset, so names and
answers in any script the font covers (Latin with every accent, Greek, Cyrillic, Armenian,
Georgian, Hebrew and Arabic letters, many symbols) show exactly as sent. No JavaScript, forms,
links or actions. Without the font the PDF is not made (FontMissing, naming the package).

What the PDF cannot show as sent is marked and explained, never silently changed: a character
the font lacks (Chinese, Japanese, Korean, most emoji) or an invisible one (a control or
formatting character) is shown as U+FFFD, and right-to-left text is set without shaping (its
letters left to right and unjoined: fpdf2 shapes only with uharfbuzz, which the portal does
not install). Either way a note says the exact text is in the embedded content file and on
the copy's page.
"""

from __future__ import annotations

import logging
import unicodedata
from pathlib import Path

from fpdf import FPDF
from fpdf.enums import XPos, YPos

from portal.contributions.confirmations import ChildOnRequest
from portal.contributions.receipts import CONTENT_FILE, RECEIPT_FILE
from portal.contributions.sent_copy import SentCopy
from portal.uk_time import long_date, uk_clock, uk_moment

# Where Debian's fonts-dejavu-core puts the fonts (a fixed path, like portal.disarm.bubblewrap's
# BWRAP). `make demo` and `make test` install the package (`make fonts`), and so does the image.
FONT_DIRECTORY = Path("/usr/share/fonts/truetype/dejavu")
FONT_PACKAGE = "fonts-dejavu-core"
_FONT = "dejavu-sans"
FONT_FILES = {"": "DejaVuSans.ttf", "B": "DejaVuSans-Bold.ttf"}
_NOT_SHOWN = "\ufffd"  # the Unicode replacement character, in the font
_RIGHT_TO_LEFT = {"R", "AL"}  # bidirectional classes of Hebrew, Arabic, Syriac, Thaana...
_log = logging.getLogger(__name__)
# fontTools logs each step of every subset it makes at INFO: nothing an operator needs.
logging.getLogger("fontTools.subset").setLevel(logging.WARNING)
_MATCHED = {
    "upn": "UPN",
    "nhs_number": "NHS number",
    "name_and_date_of_birth": "name and date of birth",
}
_SAID = {
    "known": "You hold a record for this child",
    "not_known": "You do not know this child",
    "not_this_child": "You said this is not the child you know",
}


class FontMissing(RuntimeError):
    """DejaVu Sans is not installed: the PDF is not made rather than made with "?"s."""


def _font_files() -> dict[str, Path]:
    files = {style: FONT_DIRECTORY / name for style, name in FONT_FILES.items()}
    missing = [str(path) for path in files.values() if not path.is_file()]
    if missing:
        # Logged as well: the error page's log names only an exception's type.
        message = (
            f"The copy's PDF needs the DejaVu Sans fonts, and {', '.join(missing)} is missing: "
            f"install Debian's {FONT_PACKAGE} (apt-get install {FONT_PACKAGE})."
        )
        _log.error(message)
        raise FontMissing(message)
    return files


class _Writer:
    def __init__(self) -> None:
        self.pdf = FPDF(format="A4")
        for style, path in _font_files().items():
            self.pdf.add_font(_FONT, style=style, fname=str(path))
        self.pdf.set_auto_page_break(auto=True, margin=18)
        self.pdf.set_margins(18, 18, 18)
        self.pdf.add_page()
        self.replaced = False
        self.right_to_left = False

    def text(self, value: str, style: str = "", size: int = 10) -> str:
        """Sets the font; returns `value` with what this font cannot show replaced, noted."""
        self.pdf.set_font(_FONT, style=style, size=size)
        glyphs = self.pdf.current_font.cmap
        shown = "".join(
            c if c == "\n" or (c.isprintable() and ord(c) in glyphs) else _NOT_SHOWN for c in value
        )
        self.replaced = self.replaced or shown != value
        self.right_to_left = self.right_to_left or any(
            unicodedata.bidirectional(c) in _RIGHT_TO_LEFT for c in value
        )
        return shown

    def heading(self, value: str, size: int = 14) -> None:
        self.pdf.ln(3)
        shown = self.text(value, "B", size)
        self.pdf.multi_cell(0, size * 0.5, shown, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.pdf.ln(1)

    def row(self, key: str, value: str) -> None:
        shown = self.text(key, "B")
        self.pdf.multi_cell(0, 5, shown, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        shown = self.text(value)
        self.pdf.multi_cell(0, 5, shown, new_x=XPos.LMARGIN, new_y=YPos.NEXT, wrapmode="CHAR")
        self.pdf.ln(2)

    def paragraph(self, value: str) -> None:
        shown = self.text(value)
        self.pdf.multi_cell(0, 5, shown, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.pdf.ln(2)

    def note_what_is_not_as_sent(self, has_content: bool) -> None:
        said = []
        if self.replaced:
            said.append(f"Some characters cannot be shown in this PDF and appear as {_NOT_SHOWN}.")
        if self.right_to_left:
            said.append(
                "Right-to-left text (such as Arabic or Hebrew) is shown letter by letter from "
                "left to right, without joining the letters."
            )
        if not said:
            return
        where = f"in the attached file {CONTENT_FILE} and " if has_content else ""
        said.append(f"The exact text is {where}on the copy's page in the portal.")
        self.paragraph(" ".join(said))


def copy_pdf(copy: SentCopy) -> bytes:
    """The PDF of one sent version's copy."""
    writer = _Writer()
    reference = copy.request_.reference
    writer.pdf.set_title(f"What {copy.organisation} sent: {reference}, version {copy.version}")
    writer.pdf.set_creator("Partner delegation portal")
    writer.heading(f"What {copy.organisation} sent: {reference}, version {copy.version}", 16)
    writer.row("Form", copy.template_title)
    writer.row("Sent by", f"{copy.sent_by}, {copy.organisation}")
    writer.row("Sent at", uk_moment(copy.sent_at))
    if copy.deleted:
        when = f" on {uk_clock(copy.shredded_on, '%-d %B %Y')}" if copy.shredded_on else ""
        writer.paragraph(
            f"The answers and documents were deleted{when} under the retention policy. "
            "The receipt below still proves what was sent."
        )
    else:
        _write_content(writer, copy)
    _write_receipt(writer, copy)
    if copy.content_differs:
        writer.paragraph(
            "The portal could not rebuild exactly the content the receipt covers, so this PDF "
            f"does not carry the content file ({CONTENT_FILE}). The receipt still proves what "
            "was sent: ask the council if you need the content checked."
        )
    writer.note_what_is_not_as_sent(copy.content is not None)
    # Compressed (one /FlateDecode, which the receipt check inflates with a cap): the content of
    # a long answer set in ensure_ascii escapes is megabytes, but compresses well.
    writer.pdf.embed_file(
        bytes=copy.receipt_json, basename=RECEIPT_FILE, desc="The signed receipt", compress=True
    )
    if copy.content is not None:
        writer.pdf.embed_file(
            bytes=copy.content,
            basename=CONTENT_FILE,
            desc="The canonical content the receipt's SHA-256 digest covers",
            compress=True,
        )
    return bytes(writer.pdf.output())


def _write_content(writer: _Writer, copy: SentCopy) -> None:
    if copy.after_close:
        writer.paragraph(
            "This request is closed to you: this copy keeps what your organisation sent, and "
            "leaves out the details the council gave about the children (each is numbered)."
        )
    if copy.children:
        writer.heading("The children")
        for child in copy.children:
            identity = child.name if copy.after_close else _child_identity(child)
            writer.row(identity, _partner_said(child))
    for title, rows in copy.sections:
        writer.heading(title)
        for question, answer in rows:
            writer.row(question, answer)
    if copy.documents:
        writer.heading("Documents")
        for document in copy.documents:
            writer.row(
                document.name,
                f"For: {document.question}\nSize: {document.size_bytes:,} bytes\n"
                f"SHA-256: {document.sha256}",
            )


def _child_identity(child: ChildOnRequest) -> str:
    identifiers = "".join(f", {i.label} {i.value}" for i in child.identifiers)
    born = long_date(child.date_of_birth) if child.date_of_birth else "unknown"
    return f"{child.name}, born {born}{identifiers}"


def _partner_said(child: ChildOnRequest) -> str:
    if child.answer is None:
        return "Not confirmed"
    said = _SAID.get(child.answer.value, "")
    if child.matched_on is None:
        return said
    return f"{said} (matched on {_MATCHED[child.matched_on.value]})"


def _write_receipt(writer: _Writer, copy: SentCopy) -> None:
    receipt = copy.receipt
    writer.heading("Receipt")
    writer.row("Reference", f"{receipt['request']}, version {receipt['version']}")
    writer.row("Sent at", uk_moment(copy.sent_at))
    writer.row("SHA-256 of what was sent", receipt["sha256"])
    writer.row("Signed with the council's key", receipt["key_id"])
    writer.row("Signature (Ed25519)", receipt["signature"])
    carried = (
        f"the receipt ({RECEIPT_FILE}) and the content it covers ({CONTENT_FILE}) as attached files"
        if copy.content is not None
        else f"the receipt ({RECEIPT_FILE}) as an attached file"
    )
    writer.paragraph(
        f"This PDF carries {carried}. Anyone can check it on the portal's 'Check a receipt' "
        "page, or with the council's published public keys (see the portal's documentation, "
        "docs/receipts.md). The check proves the attached files, not these pages: compare "
        f"them with {CONTENT_FILE} or with the copy in the portal."
    )
