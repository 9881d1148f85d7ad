"""Documents partners attach to their answers, and the social worker's (audited) downloads:
the safe copy, or the original once the reviewer has said why.

Uploads stream straight from the request body into the encrypted store and the virus scanner
(portal/attachments): the route is exempt from the CSRF extension, which would parse the body
into an unencrypted temporary file first, and the upload reader checks the token itself.
"""

from __future__ import annotations

from datetime import datetime
from urllib.parse import quote

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

from portal import db
from portal.audit.actions import ORIGINAL_DOWNLOAD_REASONS
from portal.auth.policy import Role, access, roles
from portal.config import Settings
from portal.contributions import documents, pages, services
from portal.contributions.answering import PARTNERS
from portal.contributions.documents import (
    Attachment,
    AttachmentUnavailable,
    DocumentStore,
    SafeCopyStatus,
    ScanStatus,
    UploadRefused,
)
from portal.contributions.pages import Contribution
from portal.extensions import csrf
from portal.requests.access import DelegationRequest, councils_request, partners_request

blueprint = Blueprint("files", __name__)


def _store() -> DocumentStore:
    settings: Settings = current_app.config["PORTAL_SETTINGS"]
    return documents.request_store(settings.attachments)


@blueprint.post("/inbox/<reference>/answer/<section_id>/files/<answer_key>")
@access(PARTNERS)
@csrf.exempt  # the upload reader checks the token as the body streams (see above)
def upload(reference: str, section_id: str, answer_key: str) -> ResponseReturnValue:
    found = partners_request(reference)
    if services.needs_confirmation(db.session(), found):
        # Before the partner says which children it knows, nothing about them is taken.
        return redirect(url_for("answer.children", reference=found.reference))
    questions = pages.questions_in(db.session(), db.cipher(), found, section_id)
    if questions is None or answer_key not in {f.key for f in questions.file_fields}:
        abort(404)
    back = url_for("answer.section", reference=found.reference, section_id=section_id)
    try:
        attachment = documents.attach_document(_store(), request, found, current_user, answer_key)
    except services.ContributionRefused:
        return redirect(url_for("inbox.show", reference=found.reference))
    except UploadRefused as refused:
        return redirect(f"{back}?refused={refused.reason}&key={answer_key}#{answer_key}")
    scanned = "clean" if attachment.scan_status is ScanStatus.CLEAN else "unscanned"
    return redirect(f"{back}?added={scanned}#{answer_key}")


@blueprint.post("/inbox/<reference>/answer/<section_id>/files/<attachment_id>/remove")
@access(PARTNERS)
def remove(reference: str, section_id: str, attachment_id: str) -> ResponseReturnValue:
    found = partners_request(reference)
    store = _store()
    try:
        removed = documents.remove_document(
            store.session, store.settings, found, current_user, attachment_id
        )
    except services.ContributionRefused:
        return redirect(url_for("inbox.show", reference=found.reference))
    if not removed:
        abort(404)
    return redirect(url_for("answer.section", reference=found.reference, section_id=section_id))


COUNCIL_STAFF = roles(Role.SOCIAL_WORKER, Role.TEAM_MANAGER)
_DOCUMENT = "/requests/<reference>/versions/<version>/files/<attachment_id>"


@blueprint.get(_DOCUMENT)
@access(COUNCIL_STAFF)
def download(reference: str, version: str, attachment_id: str) -> ResponseReturnValue:
    """The safe copy: what reviewers open."""
    found, contribution, attachment = _sent_document(reference, version, attachment_id)
    if found.content_shredded_at is not None:
        return _deleted_under_retention(found.content_shredded_at)
    if attachment.safe_status != SafeCopyStatus.READY:
        return _no_safe_copy(attachment)
    try:
        document = documents.download(_store(), found, contribution, attachment, current_user)
    except AttachmentUnavailable:
        abort(404)
    return _streamed(document)


@blueprint.route(f"{_DOCUMENT}/original", methods=["GET", "POST"])
@access(COUNCIL_STAFF)
def download_original(reference: str, version: str, attachment_id: str) -> ResponseReturnValue:
    """The document as the partner sent it, once the reviewer has said why they need it."""
    found, contribution, attachment = _sent_document(reference, version, attachment_id)
    if found.content_shredded_at is not None:
        return _deleted_under_retention(found.content_shredded_at)
    reason = request.form.get("reason", "")
    if request.method == "GET" or reason not in ORIGINAL_DOWNLOAD_REASONS:
        # Nothing of the document is shown (not even its name) until the download itself,
        # which is on the record.
        error = "Select why you need the original" if request.method == "POST" else None
        page = render_template(
            "contributions/original.html",
            request_=found,
            contribution=contribution,
            reasons=ORIGINAL_DOWNLOAD_REASONS,
            error=error,
        )
        return page, 400 if error else 200
    try:
        document = documents.download_original(
            _store(), found, contribution, attachment, current_user, reason
        )
    except AttachmentUnavailable:
        abort(404)
    return _streamed(document)


def _sent_document(
    reference: str, version: str, attachment_id: str
) -> tuple[DelegationRequest, Contribution, Attachment]:
    found = councils_request(reference)
    contribution = pages.sent_version(db.session(), found, version)
    attachment = documents.sent_document(contribution, attachment_id)
    if contribution is None or attachment is None:
        abort(404)
    return found, contribution, attachment


def _streamed(document: documents.Download) -> Response:
    response = Response(document.chunks, mimetype=document.content_type)
    response.headers["Content-Disposition"] = _attachment_disposition(document.name)
    response.headers["Content-Length"] = str(document.size_bytes)
    return response


def _no_safe_copy(attachment: Attachment) -> ResponseReturnValue:
    """A link to a safe copy that is not (or no longer) there: what became of it."""
    waiting = attachment.safe_status == SafeCopyStatus.PENDING
    page = render_template(
        "errors/error.html",
        title=f"This document {'is being' if waiting else 'could not be'} made safe",
        advice="Its safe copy will be ready in a few minutes: go back to the answers and "
        "try again then."
        if waiting
        else "Go back to the answers: you can download the original there, after saying "
        "why you need it.",
        status=409,
    )
    return page, 409


def _deleted_under_retention(deleted_at: datetime) -> ResponseReturnValue:
    page = render_template(
        "errors/error.html",
        title="This document has been deleted",
        advice=f"It was deleted on {deleted_at:%-d %B %Y} under the retention policy.",
        status=410,
    )
    return page, 410


def _attachment_disposition(name: str) -> str:
    ascii_name = "".join(
        c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in name
    )
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name)}"
