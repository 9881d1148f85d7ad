"""The IG officer's evidence pages: verify the trail, sign and list checkpoints, export; and
the checkpoint key's public half, published for anyone holding an export."""

from __future__ import annotations

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_login import current_user

from portal import db
from portal.audit import AuditAction, oversight, record_event, search
from portal.audit.checkpoints import sign_tree_head, tree_head_list
from portal.audit.export import LogIdentity, export_zip
from portal.audit.export_check import (
    FIELD,
    MAX_UPLOAD_BYTES,
    ExportNotReceived,
    check_uploaded_export,
)
from portal.audit.export_proofs import ProofFailed
from portal.audit.export_scope import CoveringHead, covering_head
from portal.audit.runtime import audit_keys
from portal.audit.sequencer import sequence_pending
from portal.audit.tree_store import MissingNode
from portal.audit.verify import verify_log
from portal.audit.verify_report import recorded_details
from portal.audit.verify_witnesses import witnesses_of
from portal.audit.witnessing import witnesses_from_settings
from portal.audit.workspace import search_form
from portal.auth.login import actor_for
from portal.auth.policy import PUBLIC, Role, access, roles
from portal.extensions import csrf

blueprint = Blueprint("audit_evidence", __name__)
IG_ONLY = roles(Role.IG_OFFICER)
CHECKPOINTS_PER_PAGE = 20


@blueprint.get("/audit/verify")
@access(IG_ONLY)
def verify() -> ResponseReturnValue:
    session = db.session()
    settings = current_app.config["PORTAL_SETTINGS"]
    keys = audit_keys()
    report = verify_log(
        session,
        keys.trusted,
        keys.origin,
        witnesses_from_settings(settings),
        checkpoint_interval_seconds=settings.audit.checkpoint_interval_seconds,
    )
    record_event(
        session,
        AuditAction.AUDIT_VERIFIED,
        actor=actor_for(current_user),
        details=recorded_details(report),
    )
    return render_template(
        "audit/verify.html", report=report, retention_years=settings.audit.retention_years
    )


@blueprint.get("/audit/checkpoints")
@access(IG_ONLY)
def checkpoints() -> ResponseReturnValue:
    session = db.session()
    found = tree_head_list(session, request.args.get("before", type=int), CHECKPOINTS_PER_PAGE)
    keys = audit_keys()
    witnesses = witnesses_from_settings(current_app.config["PORTAL_SETTINGS"])
    return render_template(
        "audit/checkpoints.html",
        checkpoints=found.heads,
        witnessed_by=witnesses_of(session, witnesses, found.heads),
        store_configured=witnesses.store is not None,
        tsa_configured=witnesses.tsa_roots is not None,
        older=found.older,
        signer=keys.signer,
        trusted=keys.trusted,
        signed=request.args.get("signed", type=int),
    )


@blueprint.post("/audit/checkpoints")
@access(IG_ONLY)
def sign_now() -> ResponseReturnValue:
    """Place the events waiting for the sequencer, then sign: "now" covers what is recorded
    now, not what the sequencer had reached (the pass is the sequencer's own, safe beside it)."""
    keys = audit_keys()
    if keys.signer is None:
        abort(503)
    session = db.session()
    while sequence_pending(session).more:
        pass
    head = sign_tree_head(session, keys.signer, keys.origin, asked_by=actor_for(current_user))
    return redirect(url_for("audit_evidence.checkpoints", signed=head.tree_size if head else None))


@blueprint.post("/audit/export")
@access(IG_ONLY)
def export() -> ResponseReturnValue:
    """The filtered events as a ZIP (CSV, evidence file, key), each proven against the newest
    witnessed tree head the sequencer signed; those recorded after it listed as waiting."""
    form = search_form(request.args)
    if not form.validate():
        return redirect(_search_again())  # the search page shows what to correct
    session = db.session()
    covering = covering_head(session)
    if covering is None:
        return redirect(_search_again())  # the search page says no tree head is signed yet
    audit_filter = form.audit_filter()
    try:
        condition = search.matches(session, audit_filter)
    except search.FilterTooBroad:
        return redirect(_search_again())
    filters = {**audit_filter.used(), "case_reference": audit_filter.case_reference}
    try:
        archive, summary = export_zip(session, condition, filters, covering, _log(covering))
    except (ProofFailed, MissingNode):
        # The stored trail no longer matches its signed head: no evidence is handed out, and
        # the verification page says what was altered.
        return redirect(url_for("audit_evidence.verify"))
    oversight.record_export(session, actor_for(current_user), audit_filter, summary)
    return send_file(
        archive,
        mimetype="application/zip",
        as_attachment=True,
        download_name=f"audit-export-{summary.tree_size}.zip",
    )


def _log(covering: CoveringHead) -> LogIdentity:
    """The log's name and the key that signed the head (a retired one after a rotation),
    and the TSA's certificate, for the reader to check with."""
    key = next((k for k in audit_keys().trusted if k.key_id == covering.head.key_id), None)
    if key is None:
        abort(503)
    origin = covering.head.note.split("\n", 1)[0]
    roots = _tsa_roots()
    return LogIdentity(origin, key, roots.decode("ascii") if roots is not None else None)


def _tsa_roots() -> bytes | None:
    """The TSA's root certificate (`[audit] tsa_certificate_file`), PEM, if one is set."""
    certificate = current_app.config["PORTAL_SETTINGS"].audit.tsa_certificate_file
    return certificate.read_bytes() if certificate is not None else None


@blueprint.get("/audit/check-export")
@access(IG_ONLY)
def check_export_form() -> ResponseReturnValue:
    return _check_export_page(None, None)


@blueprint.post("/audit/check-export")
@access(IG_ONLY)
@csrf.exempt  # the upload reader checks the token as the body streams (portal/attachments)
def check_export() -> ResponseReturnValue:
    try:
        verdict = check_uploaded_export(
            request, db.session(), actor_for(current_user), audit_keys().trusted, _tsa_roots()
        )
    except ExportNotReceived as refused:
        return _check_export_page(None, refused.args[0]), 400
    return _check_export_page(verdict, None)


def _check_export_page(verdict: object, error: str | None) -> str:
    return render_template(
        "audit/check_export.html",
        verdict=verdict,
        error=error,
        field=FIELD,
        max_megabytes=MAX_UPLOAD_BYTES // (1024 * 1024),
    )


def _search_again() -> str:
    query = request.query_string.decode("ascii", errors="ignore")
    return url_for("audit.search") + (f"?{query}" if query else "")


@blueprint.get("/.well-known/audit-checkpoint-key.pem")
@access(PUBLIC)
def public_key() -> ResponseReturnValue:
    signer = audit_keys().signer
    if signer is None:
        abort(404)
    response = Response(signer.public.pem, mimetype="application/x-pem-file")
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response
