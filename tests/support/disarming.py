"""Safe copies in tests: the real disarm worker, run once over what is waiting, and a small
real PDF for it to rebuild."""

from __future__ import annotations

from flask import Flask

from portal import db
from portal.crypto.runtime import keyring
from portal.disarm.worker import DisarmCounts, DisarmWorker


def make_safe_copies(app: Flask) -> DisarmCounts:
    """What `portal disarm --once` does: every waiting document's safe copy, through the real
    engine (a sandboxed converter process for each), in the app's database and file store."""
    worker = DisarmWorker(
        db.database(app).sessions, app.config["PORTAL_SETTINGS"], keyring(app), name="in-test"
    )
    return worker.make_due()


def one_page_pdf(text: str = "Attendance letter") -> bytes:
    """A PDF of one A4 page showing `text` (ASCII), with a correct cross-reference table."""
    stream = f"BT /F1 24 Tf 72 720 Td ({text}) Tj ET".encode("ascii")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    pdf = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(pdf))
        pdf += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    table = len(pdf)
    pdf += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    pdf += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    pdf += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        table,
    )
    return bytes(pdf)
