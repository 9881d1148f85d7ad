"""The public page where anyone checks a receipt (portal/receipts): the receipt's JSON or the
copy's PDF, what it proves in plain words, or exactly why it does not verify."""

from __future__ import annotations

import io
import json
import logging
import re
import time
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask import Flask
from flask.testing import FlaskClient

from portal.audit.runtime import AuditKeys, audit_keys
from portal.audit.signing import CheckpointSigner
from portal.contributions.receipts import (
    CONTENT_FILE,
    FORMAT,
    FORMAT_2,
    RECEIPT_FILE,
    Sender,
    signed_message,
)
from portal.receipts.routes import MAX_UPLOAD_BYTES
from tests.integration.test_contributions import SECRET_ANSWER
from tests.integration.test_sent_copy import copy_path, pdf_of, send_a_version
from tests.support.world import World, client_for

HOSTILE = Path(__file__).parents[1] / "support" / "hostile_pdfs"
GENUINE = "This receipt is genuine"
REFUSED = "This receipt does not verify"


@pytest.fixture
def sent(app: Flask, world: World) -> str:
    return send_a_version(app, world)


def receipt_of(app: Flask, world: World, reference: str) -> dict[str, Any]:
    download = client_for(app, world.teacher).get(f"/inbox/{reference}/receipts/1/download")
    document: dict[str, Any] = json.loads(download.data)
    return document


def check(
    client: FlaskClient, data: bytes, name: str = "receipt.json", content: bytes | None = None
) -> tuple[int, str]:
    form: dict[str, Any] = {"receipt": (io.BytesIO(data), name)}
    if content is not None:
        form["content"] = (io.BytesIO(content), "content.json")
    response = client.post("/receipts/verify", data=form, content_type="multipart/form-data")
    return response.status_code, response.get_data(as_text=True)


def check_raw(client: FlaskClient, files: dict[str, bytes]) -> tuple[int, str]:
    """Files sent in a body built here: the test client spools one over 500 KB to a file."""
    body = b""
    for name, data in files.items():
        head = f"--x\r\nContent-Disposition: form-data; name={name}; filename={name}.json\r\n"
        body += head.encode() + b"\r\n" + data + b"\r\n"
    response = client.post(
        "/receipts/verify", data=body + b"--x--\r\n", content_type="multipart/form-data; boundary=x"
    )
    return response.status_code, response.get_data(as_text=True)


def check_oversized(client: FlaskClient) -> tuple[int, str]:
    return check_raw(client, {"receipt": b"{" + b" " * MAX_UPLOAD_BYTES + b"}"})


def resigned(document: dict[str, Any], signer: CheckpointSigner) -> dict[str, Any]:
    """The receipt as another key would have signed it (format 1 without its organisation)."""
    from datetime import datetime

    sender = None
    if document["format"] == FORMAT_2:
        sender = Sender(document["organisation_id"], document["organisation"])
    message = signed_message(
        document["request"],
        document["version"],
        datetime.fromisoformat(document["submitted_at"]),
        bytes.fromhex(document["sha256"]),
        sender,
    )
    return {**document, "key_id": signer.public.key_id, "signature": signer.sign(message).hex()}


def test_the_page_is_public_and_explains_itself(app: Flask) -> None:
    page = app.test_client().get("/receipts/verify")
    assert page.status_code == 200 and "Check a receipt" in page.get_data(as_text=True)


def test_a_genuine_receipt_says_in_plain_words_what_it_proves(
    app: Flask, world: World, sent: str
) -> None:
    document = receipt_of(app, world, sent)
    assert document["format"] == FORMAT_2 and document["organisation"] == world.school.name
    assert document["organisation_id"] == str(world.school.id)
    status, html = check(app.test_client(), json.dumps(document).encode())
    assert status == 200 and GENUINE in html
    assert f"{world.school.name} sent version 1 of request {sent} to the council on" in html
    assert document["sha256"] in html and document["key_id"] in html
    assert "+00:00" not in html and document["submitted_at"] not in html


def test_a_receipt_signed_before_receipts_named_the_organisation_still_verifies(
    app: Flask, world: World, sent: str
) -> None:
    named = receipt_of(app, world, sent)
    first = {k: v for k, v in named.items() if k not in ("organisation", "organisation_id")}
    signer = audit_keys(app).signer
    assert signer is not None
    first = resigned({**first, "format": FORMAT}, signer)
    status, html = check(app.test_client(), json.dumps(first).encode())
    assert status == 200 and GENUINE in html
    assert f"Version 1 of request {sent} was sent to the council on" in html
    assert "signed before receipts named the organisation" in html
    # Format 2's fields do not make a format 1 receipt name anyone.
    claimed = {**first, "organisation": "Brookfield Academy"}
    status, html = check(app.test_client(), json.dumps(claimed).encode())
    assert GENUINE in html and "Brookfield Academy" not in html


def test_the_pdf_copy_verifies_with_its_content(app: Flask, world: World, sent: str) -> None:
    data = pdf_of(client_for(app, world.teacher), sent)
    status, html = check(app.test_client(), data, "copy.pdf")
    assert status == 200 and GENUINE in html
    assert "matches the receipt’s digest" in html
    assert SECRET_ANSWER not in html  # the content is checked, never shown


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"sha256": "00" * 32}, "signature does not match its contents"),
        ({"version": 2}, "signature does not match its contents"),
        ({"signature": "11" * 64}, "signature does not match its contents"),
        ({"key_id": "ab" * 8}, "not one of the council's published keys"),
        ({"organisation": "Brookfield Academy"}, "signature does not match its contents"),
        ({"organisation_id": "0" * 8 + "-0000-4000-8000-" + "0" * 12}, "does not match"),
    ],
)
def test_a_changed_receipt_fails_with_a_plain_reason(
    app: Flask, world: World, sent: str, change: dict[str, Any], why: str
) -> None:
    forged = {**receipt_of(app, world, sent), **change}
    status, html = check(app.test_client(), json.dumps(forged).encode())
    assert status == 200 and REFUSED in html and GENUINE not in html
    assert why.replace("'", "&#39;") in html


@pytest.mark.parametrize(
    ("data", "name", "why"),
    [
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 64, "photo.png", "This file is not a receipt"),
        (b"[1, 2, 3]", "list.json", "This file is not a receipt: it has no signature"),
        (b'{"signature": "00", "format": "other/1"}', "r.json", "format is not one"),
        (b'{"signature": "zz", "format": "portal-receipt/1"}', "r.json", "This receipt is damaged"),
        (b"%PDF-1.4\nnot really", "fake.pdf", "This PDF could not be read"),
        (b"", "empty.json", "Select the receipt file"),
        (b"[" * 100_000, "deep.json", "This file is not a receipt"),
        (b"1" * 100_000, "long.json", "This file is not a receipt"),
    ],
)
def test_a_file_that_is_not_a_receipt_is_refused_plainly(
    app: Flask, data: bytes, name: str, why: str
) -> None:
    status, html = check(app.test_client(), data, name)
    assert status == 400 and "govuk-error-summary" in html and why in html


def test_a_pdf_without_a_receipt_is_refused(app: Flask) -> None:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    status, html = check(app.test_client(), bytes(pdf.output()), "other.pdf")
    assert status == 400 and "This PDF does not carry a receipt" in html


def test_an_oversized_upload_is_refused_before_it_is_read(app: Flask) -> None:
    status, html = check_oversized(app.test_client())
    assert status == 413 and "smaller than 8 MB" in html and "govuk-error-summary" in html


def test_a_copy_of_the_content_matches_or_not(app: Flask, world: World, sent: str) -> None:
    import pikepdf

    data = pdf_of(client_for(app, world.teacher), sent)
    with pikepdf.open(io.BytesIO(data)) as pdf:
        content = pdf.attachments["content.json"].get_file().read_bytes()
    receipt = json.dumps(receipt_of(app, world, sent)).encode()
    status, html = check(app.test_client(), receipt, content=content)
    assert GENUINE in html and "matches the receipt’s digest" in html
    altered = content.replace(b"Zebra-7", b"Zebra-8")
    assert altered != content
    status, html = check(app.test_client(), receipt, content=altered)
    assert GENUINE in html and "does not match the receipt’s digest" in html
    # A PDF's own content is overridden by a content file given beside it.
    status, html = check(app.test_client(), data, "copy.pdf", content=altered)
    assert "does not match the receipt’s digest" in html


def test_a_receipt_signed_by_a_retired_key_still_verifies(
    app: Flask, world: World, sent: str
) -> None:
    retired = CheckpointSigner(Ed25519PrivateKey.generate())
    current = audit_keys(app)
    app.extensions["portal.audit_keys"] = AuditKeys(
        current.signer, (*current.trusted, retired.public), current.origin
    )
    old = resigned(receipt_of(app, world, sent), retired)
    status, html = check(app.test_client(), json.dumps(old).encode())
    assert GENUINE in html and retired.public.key_id in html
    stranger = resigned(old, CheckpointSigner(Ed25519PrivateKey.generate()))
    status, html = check(app.test_client(), json.dumps(stranger).encode())
    assert REFUSED in html


def test_nothing_uploaded_reaches_the_logs(
    app: Flask, world: World, sent: str, caplog: pytest.LogCaptureFixture
) -> None:
    data = pdf_of(client_for(app, world.teacher), sent)
    caplog.clear()
    with caplog.at_level(logging.DEBUG):
        check(app.test_client(), data, "copy.pdf")
        check_oversized(app.test_client())
    assert "receipts.verify" in caplog.text
    assert SECRET_ANSWER not in caplog.text and "Zebra" not in caplog.text


def test_the_copy_path_is_not_public(app: Flask, world: World, sent: str) -> None:
    response = app.test_client().get(copy_path(sent))
    assert response.status_code == 302 and response.headers["Location"].startswith("/sign-in")


def test_uploads_are_rate_limited_but_the_page_is_not(app: Flask) -> None:
    from portal.auth.rate_limits import RECEIPT_CHECK_LIMIT

    allowed = int(RECEIPT_CHECK_LIMIT.split()[0])
    client = app.test_client()
    statuses = [client.post("/receipts/verify", data={}).status_code for _ in range(allowed + 1)]
    assert statuses[:allowed] == [400] * allowed and statuses[-1] == 429
    assert client.get("/receipts/verify").status_code == 200


@pytest.mark.parametrize(
    ("name", "why"),
    [
        # 2.6 KB: a gigabyte of zeros compressed twice, not named as the copy's files.
        ("bomb-1024-2-1.pdf", "This PDF does not carry a receipt"),
        # 7.5 KB: fifty names pointing at one 256 MB stream (5.4 GB read in the worker before).
        ("bomb-256-2-50.pdf", "This PDF carries more files than the portal"),
        # 2.2 KB: the catalog in an object stream that inflates to a gigabyte (2.1 GB before).
        ("objstm.pdf", "This PDF could not be read"),
        # Named as the copy's files: compressed twice is not how the portal stores them...
        ("named-1024-2.pdf", "are not stored as the portal stores them"),
        # ... and once, 100 MB of zeros in 100 KB: inflated only up to the cap.
        ("named-100-1.pdf", "larger than the portal"),
    ],
)
def test_a_decompression_bomb_is_refused_plainly_and_quickly(
    app: Flask, name: str, why: str
) -> None:
    import resource

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.monotonic()
    status, html = check(app.test_client(), (HOSTILE / name).read_bytes(), name)
    assert status == 400 and "govuk-error-summary" in html and why.replace("'", "&#39;") in html
    assert time.monotonic() - started < 8
    # Read in a child process: the worker's own peak memory barely moves.
    grown_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown_kb < 64 * 1024


def test_the_pdf_is_read_in_a_bounded_child(monkeypatch: pytest.MonkeyPatch) -> None:
    from portal.receipts import extract, pdf_reader

    assert extract.MEMORY_BYTES <= 512 * 1024 * 1024 and extract.CPU_SECONDS <= 2
    assert (extract.RECEIPT_NAME, extract.CONTENT_NAME) == (RECEIPT_FILE, CONTENT_FILE)
    # A child that overruns its time is killed and the PDF "could not be read".
    monkeypatch.setattr(pdf_reader, "WALL_SECONDS", 0.01)
    assert pdf_reader.read_pdf((HOSTILE / "objstm.pdf").read_bytes()).error == extract.UNREADABLE


def test_the_check_needs_no_cookie_or_token(app: Flask, world: World, sent: str) -> None:
    """Nothing to protect (no session, nothing changes): a visitor without cookies, or back
    after an hour, can still check a receipt."""
    assert app.config.get("WTF_CSRF_ENABLED", True)
    document = json.dumps(receipt_of(app, world, sent)).encode()
    client = app.test_client(use_cookies=False)
    form = {"receipt": (io.BytesIO(document), "receipt.json")}
    response = client.post("/receipts/verify", data=form, content_type="multipart/form-data")
    assert response.status_code == 200 and GENUINE in response.get_data(as_text=True)
    assert 'name="csrf_token"' not in client.get("/receipts/verify").get_data(as_text=True)


def test_a_receipt_saved_again_by_notepad_verifies(app: Flask, world: World, sent: str) -> None:
    document = json.dumps(receipt_of(app, world, sent), indent=2).replace("\n", "\r\n")
    status, html = check(app.test_client(), b"\xef\xbb\xbf" + document.encode())
    assert status == 200 and GENUINE in html


def test_the_verdict_says_when_in_words_and_what_a_pdf_proves(
    app: Flask, world: World, sent: str
) -> None:
    data = pdf_of(client_for(app, world.teacher), sent)
    status, html = check(app.test_client(), data, "copy.pdf")
    assert re.search(r"to the council on \d{1,2} [A-Z][a-z]+ \d{4} at \d{1,2}(:\d\d)?[ap]m", html)
    assert "content file attached to this PDF (content.json) matches" in html
    assert "visible pages were not checked" in html


def test_a_receipt_that_does_not_verify_only_claims(app: Flask, world: World, sent: str) -> None:
    forged = {**receipt_of(app, world, sent), "organisation": "Brookfield Academy"}
    status, html = check(app.test_client(), json.dumps(forged).encode())
    assert REFUSED in html and "Claimed organisation" in html and "Claimed request" in html
    assert "Brookfield Academy sent" not in html
    assert re.search(r"<dt[^>]*>\s*Organisation\s*</dt>", html) is None


def test_every_trusted_key_is_published_and_linked(app: Flask, world: World, sent: str) -> None:
    retired = CheckpointSigner(Ed25519PrivateKey.generate())
    current = audit_keys(app)
    app.extensions["portal.audit_keys"] = AuditKeys(
        current.signer, (*current.trusted, retired.public), current.origin
    )
    client = app.test_client()
    status, html = check(client, json.dumps(receipt_of(app, world, sent)).encode())
    assert 'href="/receipts/keys"' in html
    listing = client.get("/receipts/keys").get_data(as_text=True)
    for key in (*current.trusted, retired.public):
        assert key.key_id in listing
        pem = client.get(f"/receipts/keys/{key.key_id}.pem")
        assert pem.status_code == 200 and pem.get_data(as_text=True) == key.pem
    assert "retired" in listing
    assert client.get(f"/receipts/keys/{'0' * 16}.pem").status_code == 404


def test_nothing_uploaded_is_spooled_to_disk(
    app: Flask, world: World, sent: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tempfile

    def no_disk(*args: object, **kwargs: object) -> None:
        raise AssertionError("an upload was written to a temporary file")

    monkeypatch.setattr(tempfile, "TemporaryFile", no_disk)
    document = json.dumps(receipt_of(app, world, sent)).encode()
    # A content file of a megabyte, over Werkzeug's 500 KB threshold for spooling to disk.
    status, html = check_raw(
        app.test_client(), {"receipt": document, "content": b" " * (1024 * 1024)}
    )
    assert status == 200 and GENUINE in html and "does not match the receipt" in html


def test_the_child_limits_itself_before_it_reads_anything() -> None:
    import subprocess
    import sys

    from portal.receipts import extract

    shown = subprocess.run(  # noqa: S603 - our own module
        [
            sys.executable,
            "-c",
            "from portal.receipts.extract import limit_self; limit_self(); "
            "print(open('/proc/self/limits').read())",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout
    limits = {line[:26].strip(): line[26:].split()[:2] for line in shown.splitlines()[1:]}
    assert limits["Max address space"] == [str(extract.MEMORY_BYTES)] * 2
    assert limits["Max cpu time"][0] == str(extract.CPU_SECONDS)
    assert limits["Max file size"] == ["0", "0"]
