"""Documents partners attach to their answers, and the social worker's (audited) download.

Uploads stream straight from the request body into the encrypted store and the virus scanner
(portal/attachments): the route is exempt from the CSRF extension, which would parse the body
into an unencrypted temporary file first, and the upload reader checks the token itself.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from urllib.parse import quote

import sqlalchemy as sa
from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy.orm.exc import StaleDataError

from portal import db
from portal.attachments import (
    AttachmentUnavailable,
    UploadRefused,
    delete_attachment_file,
    open_attachment,
    receive_attachment,
    scanner_for,
)
from portal.audit import AuditAction, record_event, record_event_apart
from portal.auth.login import actor_for
from portal.auth.policy import access, roles
from portal.config import Settings
from portal.contributions import services
from portal.contributions.answering import PARTNERS, _children, _template
from portal.contributions.answers_form import file_fields_of
from portal.crypto.records import RecordCipher
from portal.crypto.runtime import keyring
from portal.extensions import csrf
from portal.models import Attachment, AuditOutcome, Role, ScanStatus
from portal.requests.access import councils_request, partners_request

blueprint = Blueprint("files", __name__)


def _settings() -> Settings:
    settings: Settings = current_app.config["PORTAL_SETTINGS"]
    return settings


@blueprint.post("/inbox/<reference>/answer/<section_id>/files/<answer_key>")
@access(PARTNERS)
@csrf.exempt  # the upload reader checks the token as the body streams (see above)
def upload(reference: str, section_id: str, answer_key: str) -> ResponseReturnValue:
    found = partners_request(reference)
    part = next((s for s in _template(found).sections if s.id == section_id), None)
    keys = {f.key for f in file_fields_of(part, _children(found))} if part else set()
    if answer_key not in keys:
        abort(404)
    session = db.session()
    cipher = RecordCipher(keyring(), session)
    back = url_for("answer.section", reference=found.reference, section_id=section_id)
    try:
        draft = services.ensure_draft(session, cipher, found, current_user)
    except services.ContributionRefused:
        return redirect(url_for("inbox.show", reference=found.reference))
    session.flush()
    settings = _settings().attachments
    try:
        _fields, attachment = receive_attachment(
            request,
            answer_key=answer_key,
            contribution=draft,
            uploader_id=current_user.id,
            session=session,
            cipher=cipher,
            keyring=keyring(),
            settings=settings,
            scanner=scanner_for(settings),
        )
        # The draft's row version: a submit or withdrawal that won the race makes this fail,
        # so a file never joins a version that was sent (or destroyed) meanwhile.
        draft.updated_at = datetime.now(UTC)
        session.flush()
    except StaleDataError:
        session.rollback()
        return redirect(url_for("inbox.show", reference=found.reference))
    except UploadRefused as refused:
        actor = actor_for(current_user)
        session.rollback()
        record_event_apart(
            db.database().sessions,
            AuditAction.ATTACHMENT_REFUSED,
            actor=actor,
            outcome=AuditOutcome.FAILURE,
            object_type="delegation_request",
            object_id=reference,
            details={"reason": refused.reason, "answer_key": answer_key},
        )
        return redirect(f"{back}?refused={refused.reason}&key={answer_key}#{answer_key}")
    record_event(
        session,
        AuditAction.ATTACHMENT_UPLOADED,
        actor=actor_for(current_user),
        object_type="attachment",
        object_id=attachment.id,
        case_reference=found.case.cms_reference,
        details={
            "request": found.reference,
            "answer_key": answer_key,
            "size_bytes": attachment.size_bytes,
            "content_type": attachment.content_type,
            "scan_status": attachment.scan_status.value,
        },
    )
    scanned = "clean" if attachment.scan_status is ScanStatus.CLEAN else "unscanned"
    return redirect(f"{back}?added={scanned}#{answer_key}")


@blueprint.post("/inbox/<reference>/answer/<section_id>/files/<attachment_id>/remove")
@access(PARTNERS)
def remove(reference: str, section_id: str, attachment_id: str) -> ResponseReturnValue:
    found = partners_request(reference)
    draft = services.draft_of(db.session(), found)
    attachment = _attachment_of(draft.attachments if draft else [], attachment_id)
    session = db.session()
    session.delete(attachment)
    if draft is not None:
        draft.updated_at = datetime.now(UTC)  # loses to a submit that got there first
    record_event(
        session,
        AuditAction.ATTACHMENT_REMOVED,
        actor=actor_for(current_user),
        object_type="attachment",
        object_id=attachment.id,
        case_reference=found.case.cms_reference,
        details={"request": found.reference, "answer_key": attachment.answer_key},
    )
    session.flush()
    settings = _settings().attachments
    # The file goes once the row is gone for good, never before.
    sa.event.listen(
        session,
        "after_commit",
        lambda _session: delete_attachment_file(attachment, settings=settings),
        once=True,
    )
    return redirect(url_for("answer.section", reference=found.reference, section_id=section_id))


@blueprint.get("/requests/<reference>/versions/<version>/files/<attachment_id>")
@access(roles(Role.SOCIAL_WORKER, Role.TEAM_MANAGER))
def download(reference: str, version: str, attachment_id: str) -> ResponseReturnValue:
    found = councils_request(reference)
    contribution = next(
        (
            c
            for c in services.versions(db.session(), found)
            if str(c.version) == version and c.submitted_at is not None
        ),
        None,
    )
    attachment = _attachment_of(contribution.attachments if contribution else [], attachment_id)
    if found.content_shredded_at is not None:
        return _deleted_under_retention(found.content_shredded_at)
    session = db.session()
    cipher = RecordCipher(keyring(), session)
    record_event(
        session,
        AuditAction.ATTACHMENT_DOWNLOADED,
        actor=actor_for(current_user),
        object_type="attachment",
        object_id=attachment.id,
        case_reference=found.case.cms_reference,
        details={
            "request": found.reference,
            "version": contribution.version if contribution else None,
        },
    )
    session.commit()  # the download is on the record before a byte leaves
    try:
        chunks = open_attachment(attachment, keyring=keyring(), settings=_settings().attachments)
    except AttachmentUnavailable:
        abort(404)
    name = cipher.open_text(attachment, "filename_enc") or "document"
    response = Response(chunks, mimetype=attachment.content_type)
    response.headers["Content-Disposition"] = _attachment_disposition(name)
    response.headers["Content-Length"] = str(attachment.size_bytes)
    return response


def _deleted_under_retention(deleted_at: datetime) -> ResponseReturnValue:
    page = render_template(
        "errors/error.html",
        title="This document has been deleted",
        advice=f"It was deleted on {deleted_at:%-d %B %Y} under the retention policy.",
        status=410,
    )
    return page, 410


def _attachment_of(attachments: list[Attachment], attachment_id: str) -> Attachment:
    try:
        wanted = uuid.UUID(attachment_id)
    except ValueError:
        abort(404)
    found = next((a for a in attachments if a.id == wanted), None)
    if found is None:
        abort(404)
    return found


def _attachment_disposition(name: str) -> str:
    ascii_name = "".join(
        c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in name
    )
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name)}"
