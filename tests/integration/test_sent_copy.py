"""The partner's copy of what it sent (portal/contributions/sent_copy.py): who may have it,
what its page and PDF hold, and that the PDF's embedded receipt verifies."""

from __future__ import annotations

import hashlib
import io
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pikepdf
import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from portal.audit import AuditAction
from portal.audit.signing import PublicKey
from portal.contributions.receipts import verify_receipt
from portal.models import AuditEvent, DelegationRequest, Role
from tests.factories import make_user
from tests.integration.test_contributions import (
    SECRET_ANSWER,
    answer_everything,
    children_of,
    request_row,
    send,
)
from tests.support.confirming import confirm_if_asked
from tests.support.pdf_font import require_pdf_font
from tests.support.pdf_text import pdf_text
from tests.support.world import World, client_for, issue


@pytest.fixture
def sent(app: Flask, world: World) -> str:
    return send_a_version(app, world)


def send_a_version(app: Flask, world: World) -> str:
    """A request the school's teacher has answered and sent (version 1)."""
    reference = issue(app, world)
    teacher = client_for(app, world.teacher)
    confirm_if_asked(teacher, reference)
    answer_everything(teacher, reference, children_of(world))
    assert send(teacher, reference).status_code == 302
    return reference


def copy_path(reference: str, pdf: bool = False) -> str:
    return f"/inbox/{reference}/versions/1/copy{'.pdf' if pdf else ''}"


def pdf_of(client: FlaskClient, reference: str) -> bytes:
    require_pdf_font()
    response = client.get(copy_path(reference, pdf=True))
    assert response.status_code == 200, response.status_code
    assert response.mimetype == "application/pdf"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert response.headers["Cache-Control"] == "no-store"
    return response.data


UNSAFE = {"/JavaScript", "/JS", "/AA", "/Launch", "/AcroForm", "/URI", "/SubmitForm"}
FONT_FILES = {"/FontFile", "/FontFile2", "/FontFile3"}


def dictionaries(pdf: pikepdf.Pdf) -> Iterator[pikepdf.Dictionary | pikepdf.Stream]:
    """Every dictionary and stream reachable from the trailer, direct or indirect, once."""
    seen: set[tuple[int, int]] = set()
    stack: list[object] = [pdf.trailer]
    while stack:
        obj = stack.pop()
        if isinstance(obj, pikepdf.Object) and obj.is_indirect:
            if obj.objgen in seen:
                continue
            seen.add(obj.objgen)
        if isinstance(obj, pikepdf.Dictionary | pikepdf.Stream):
            yield obj
            stack.extend(obj.get(key) for key in obj.keys())
        elif isinstance(obj, pikepdf.Array):
            stack.extend(obj)


def active_parts(pdf: pikepdf.Pdf) -> set[str]:
    """Anything in the PDF that acts: scripts, forms, launches, links."""
    found: set[str] = set()
    for obj in dictionaries(pdf):
        found |= set(obj.keys()) & UNSAFE
        if obj.get("/S") in (pikepdf.Name.JavaScript, pikepdf.Name.Launch):
            found.add(str(obj.get("/S")))
    return found


def fonts(pdf: pikepdf.Pdf) -> set[tuple[str, str, bool]]:
    """Each font: its name, how it is embedded ("/FontFile2" is TrueType, "none" a font the
    reader supplies) and whether it is a subset (its name tagged "ABCDEF+")."""
    found: set[tuple[str, str, bool]] = set()
    for obj in dictionaries(pdf):
        if obj.get("/Type") == pikepdf.Name.FontDescriptor:
            files = sorted(set(obj.keys()) & FONT_FILES) or ["none"]
            found |= {_font_name(str(obj.FontName)) + (file,) for file in files}
        elif obj.get("/Type") == pikepdf.Name.Font and obj.get("/Subtype") in (
            pikepdf.Name.Type1,
            pikepdf.Name.TrueType,
        ):
            if "/FontDescriptor" not in obj:  # a standard font: never embedded
                found.add(_font_name(str(obj.BaseFont)) + ("none",))
    return {(name, file, subset) for name, subset, file in found}


def _font_name(name: str) -> tuple[str, bool]:
    tagged = re.fullmatch(r"/[A-Z]{6}\+(.+)", name)
    return (tagged[1], True) if tagged else (name.lstrip("/"), False)


# The only fonts: DejaVu Sans and its bold, each a TrueType subset (fpdf2 names them so).
DEJAVU_SUBSETS = {("DejaVuSansBook", "/FontFile2", True), ("DejaVuSansBold", "/FontFile2", True)}


def test_the_copy_page_shows_every_answer_the_children_and_the_receipt(
    app: Flask, world: World, sent: str, db_session: Session
) -> None:
    teacher = client_for(app, world.teacher)
    receipt_page = teacher.get(f"/inbox/{sent}/receipts/1").get_data(as_text=True)
    assert copy_path(sent) in receipt_page and "(UTC)" not in receipt_page
    page = teacher.get(copy_path(sent))
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert SECRET_ANSWER in html and "Amelia Hart" in html and "Oliver Hart" in html
    assert world.teacher.display_name in html and "Ashby Lane Primary" in html
    contribution_digest = json.loads(teacher.get(f"/inbox/{sent}/receipts/1/download").data)
    assert contribution_digest["sha256"] in html and contribution_digest["signature"] in html
    assert "+00:00" not in html and " at " in html  # UK time, GOV.UK style
    show = teacher.get(f"/inbox/{sent}").get_data(as_text=True)
    assert copy_path(sent) in show and copy_path(sent, pdf=True) in show
    reads = db_session.scalars(
        sa.select(AuditEvent.details).where(
            AuditEvent.action == AuditAction.CONTRIBUTION_VIEWED.value,
            AuditEvent.actor_user_id == world.teacher.id,
        )
    ).all()
    assert [r["shown_in"] for r in reads] == ["copy_page"]


def test_the_pdf_holds_the_answers_and_carries_a_receipt_that_verifies(
    app: Flask, world: World, sent: str, db_session: Session
) -> None:
    teacher = client_for(app, world.teacher)
    data = pdf_of(teacher, sent)
    text = pdf_text(data)
    assert SECRET_ANSWER in text and "Amelia Hart" in text and sent in text
    assert "+00:00" not in text
    with pikepdf.open(io.BytesIO(data)) as pdf:
        files = {name: spec.get_file().read_bytes() for name, spec in pdf.attachments.items()}
        assert active_parts(pdf) == set()
        assert fonts(pdf) == DEJAVU_SUBSETS
    receipt = json.loads(files["receipt.json"])
    key = PublicKey.from_pem(app.test_client().get("/.well-known/audit-checkpoint-key.pem").data)
    assert verify_receipt(receipt, key)
    assert hashlib.sha256(files["content.json"]).hexdigest() == receipt["sha256"]
    stored = request_row(db_session, sent)
    assert receipt["request"] == stored.reference
    reads = db_session.scalars(
        sa.select(AuditEvent.details).where(
            AuditEvent.action == AuditAction.CONTRIBUTION_VIEWED.value
        )
    ).all()
    assert any(r.get("shown_in") == "copy_pdf" for r in reads)


def test_another_organisation_and_the_council_get_no_trace(
    app: Flask, world: World, sent: str
) -> None:
    for person in (world.outsider, world.worker):
        client = client_for(app, person)
        assert client.get(copy_path(sent)).status_code in (403, 404)
        assert client.get(copy_path(sent, pdf=True)).status_code in (403, 404)
    outsider = client_for(app, world.outsider)
    assert outsider.get(copy_path(sent)).status_code == 404
    assert outsider.get(f"/inbox/{sent}/versions/9/copy").status_code == 404
    assert outsider.get("/inbox/DR-NOTHERE/versions/1/copy").status_code == 404


def test_a_request_named_to_someone_else_is_not_a_colleagues_to_copy(
    app: Flask, world: World, db_session: Session
) -> None:
    reference = issue(app, world, named_recipient=str(world.teacher.id))
    teacher = client_for(app, world.teacher)
    confirm_if_asked(teacher, reference)
    answer_everything(teacher, reference, children_of(world))
    assert send(teacher, reference).status_code == 302
    assert teacher.get(copy_path(reference)).status_code == 200
    assert client_for(app, world.colleague).get(copy_path(reference)).status_code == 404
    assert client_for(app, world.lead).get(copy_path(reference)).status_code == 200


def test_after_the_request_closes_the_sender_and_leads_keep_their_copy(
    app: Flask, world: World, sent: str, db_session: Session
) -> None:
    found = request_row(db_session, sent)
    found.expires_at = datetime.now(UTC) - timedelta(minutes=1)
    db_session.commit()
    assert client_for(app, world.teacher).get(copy_path(sent)).status_code == 200
    assert client_for(app, world.lead).get(copy_path(sent, pdf=True)).status_code == 200
    assert client_for(app, world.colleague).get(copy_path(sent)).status_code == 404
    # A suspended or former lead of another organisation: never.
    other_lead = make_user(db_session, world.other_school, Role.PARTNER_LEAD)
    db_session.commit()
    assert client_for(app, other_lead).get(copy_path(sent)).status_code == 404


def test_content_deleted_under_retention_says_so_and_keeps_the_receipt(
    app: Flask, world: World, sent: str, db_session: Session
) -> None:
    found = db_session.scalar(
        sa.select(DelegationRequest).where(DelegationRequest.reference == sent)
    )
    assert found is not None
    found.content_shredded_at = datetime.now(UTC)
    db_session.commit()
    teacher = client_for(app, world.teacher)
    html = teacher.get(copy_path(sent)).get_data(as_text=True)
    assert "deleted on" in html and "retention policy" in html
    assert SECRET_ANSWER not in html
    data = pdf_of(teacher, sent)
    assert SECRET_ANSWER not in pdf_text(data) and "deleted on" in pdf_text(data)
    with pikepdf.open(io.BytesIO(data)) as pdf:
        assert set(pdf.attachments) == {"receipt.json"}


def test_the_checks_find_a_script_and_a_font_that_is_not_embedded() -> None:
    """The checks above can fail: a PDF with a script, or in Helvetica, is caught."""
    from fpdf import FPDF

    document = FPDF()
    document.add_page()
    document.set_font("helvetica")
    document.cell(text="Hello")
    with pikepdf.open(io.BytesIO(bytes(document.output()))) as pdf:
        assert active_parts(pdf) == set()
        assert fonts(pdf) == {("Helvetica", "none", False)}
        pdf.Root.OpenAction = pikepdf.Dictionary(S=pikepdf.Name.JavaScript, JS="app.alert(1)")
        assert active_parts(pdf) == {"/JS", "/JavaScript"}


def test_a_version_whose_data_key_was_destroyed_says_it_was_deleted(
    app: Flask, world: World, sent: str, db_session: Session
) -> None:
    from portal.crypto.shredding import shred_data_keys
    from portal.models import Contribution

    found = request_row(db_session, sent)
    version = db_session.scalar(sa.select(Contribution).where(Contribution.request_id == found.id))
    assert version is not None and version.data_key_id is not None
    assert shred_data_keys(db_session, [version.data_key_id], datetime.now(UTC)) == 1
    db_session.commit()
    teacher = client_for(app, world.teacher)
    page = teacher.get(copy_path(sent))
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "were deleted under the retention policy" in html
    assert (
        SECRET_ANSWER not in html
        and json.loads(teacher.get(f"/inbox/{sent}/receipts/1/download").data)["signature"] in html
    )
