"""The copy of what was sent as a PDF (fpdf2), carrying its receipt: the receipt's JSON and
the canonical content its digest covers are embedded files, so the public verification page
(portal/receipts) and anyone with the council's public key can check it.

Only the PDF standard fonts (Helvetica), which are never embedded; no JavaScript, forms or
actions. The standard fonts cover Latin-1: typographic punctuation is written in its plain
form, and any other character as "?", with a note that the exact text is in the embedded
content file and on the copy's page.
"""

from __future__ import annotations

from fpdf import FPDF
from fpdf.enums import XPos, YPos

from portal.contributions.confirmations import ChildOnRequest
from portal.contributions.receipts import CONTENT_FILE, RECEIPT_FILE
from portal.contributions.sent_copy import SentCopy
from portal.uk_time import long_date, uk_clock, uk_moment

_PLAIN = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u2013": "-",
        "\u2014": "-",
        "\u2026": "...",
        "\u2022": "*",
        "\u00a0": " ",
        "\u20ac": "EUR ",
    }
)
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


class _Writer:
    def __init__(self) -> None:
        self.pdf = FPDF(format="A4")
        self.pdf.set_auto_page_break(auto=True, margin=18)
        self.pdf.set_margins(18, 18, 18)
        self.pdf.add_page()
        self.replaced = False

    def text(self, value: str) -> str:
        plain = value.translate(_PLAIN)
        safe = "".join(c if ord(c) < 256 and (c.isprintable() or c == "\n") else "?" for c in plain)
        self.replaced = self.replaced or safe != plain
        return safe

    def heading(self, value: str, size: int = 14) -> None:
        self.pdf.ln(3)
        self.pdf.set_font("helvetica", style="B", size=size)
        self.pdf.multi_cell(0, size * 0.5, self.text(value), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.pdf.ln(1)

    def row(self, key: str, value: str) -> None:
        self.pdf.set_font("helvetica", style="B", size=10)
        self.pdf.multi_cell(0, 5, self.text(key), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.pdf.set_font("helvetica", size=10)
        self.pdf.multi_cell(
            0, 5, self.text(value), new_x=XPos.LMARGIN, new_y=YPos.NEXT, wrapmode="CHAR"
        )
        self.pdf.ln(2)

    def paragraph(self, value: str) -> None:
        self.pdf.set_font("helvetica", size=10)
        self.pdf.multi_cell(0, 5, self.text(value), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.pdf.ln(2)


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
    if writer.replaced:
        writer.paragraph(
            "Some characters cannot be shown in this PDF and appear as '?'. The exact text is "
            f"in the attached file {CONTENT_FILE} and on the copy's page in the portal."
        )
    writer.pdf.embed_file(bytes=copy.receipt_json, basename=RECEIPT_FILE, desc="The signed receipt")
    if copy.content is not None:
        writer.pdf.embed_file(
            bytes=copy.content,
            basename=CONTENT_FILE,
            desc="The canonical content the receipt's SHA-256 digest covers",
        )
    return bytes(writer.pdf.output())


def _write_content(writer: _Writer, copy: SentCopy) -> None:
    if copy.children:
        writer.heading("The children")
        for child in copy.children:
            writer.row(_child_identity(child), _partner_said(child))
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
    writer.paragraph(
        f"This PDF carries the receipt ({RECEIPT_FILE}) and the content it covers "
        f"({CONTENT_FILE}) as attached files. Anyone can check them on the portal's "
        "'Check a receipt' page, or with the council's published public key "
        "(see the portal's documentation, docs/receipts.md)."
    )
