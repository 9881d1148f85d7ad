"""The partner's copy of what it sent: a sent version's page and its PDF, which carries the
receipt, and the receipt with its proof that it is in the council's audit log
(portal/contributions/sent_copy.py says who may have them)."""

from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, render_template
from flask.typing import ResponseReturnValue
from flask_login import current_user

from portal import db
from portal.audit.runtime import audit_keys
from portal.auth.policy import access
from portal.contributions import confirmations, receipt_proofs
from portal.contributions.answering import PARTNERS
from portal.contributions.copy_pdf import copy_pdf
from portal.contributions.sent_copy import (
    SentCopy,
    SentVersion,
    after_close_for,
    find_copy,
    sent_copy,
)

blueprint = Blueprint("sent_copy", __name__, url_prefix="/inbox/<reference>/versions/<version>")


@blueprint.get("/copy")
@access(PARTNERS)
def page(reference: str, version: str) -> ResponseReturnValue:
    found = _found(reference, version)
    copy = _copy(found, "copy_page")
    _, contribution = found
    states = receipt_proofs.proof_states(db.session(), [contribution])
    return render_template(
        "contributions/sent_copy.html", copy=copy, proof=states[str(contribution.id)]
    )


@blueprint.get("/copy.pdf")
@access(PARTNERS)
def pdf(reference: str, version: str) -> ResponseReturnValue:
    copy = _copy(_found(reference, version), "copy_pdf")
    response = Response(copy_pdf(copy), mimetype="application/pdf")
    name = f"sent-{copy.request_.reference}-v{copy.version}.pdf"
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


def _found(reference: str, version: str) -> SentVersion:
    return find_copy(db.session(), current_user, reference, version) or abort(404)


def _copy(found: SentVersion, shown_as: str) -> SentCopy:
    request_, contribution = found
    police = current_app.config["PORTAL_SETTINGS"].requests.police_identifiers
    seen = confirmations.identifiers_seen_by(request_, police)
    return sent_copy(
        db.session(), db.cipher(), request_, contribution, current_user, seen, shown_as
    )


@blueprint.get("/receipt-proof.json")
@access(PARTNERS)
def proof(reference: str, version: str) -> ResponseReturnValue:
    """The receipt with its inclusion proof, once a witnessed checkpoint covers it."""
    found, contribution = _found(reference, version)
    bundle = receipt_proofs.proof_bundle(db.session(), audit_keys(), found, contribution)
    if bundle is None:
        abort(404)  # not yet in a witnessed checkpoint: the copy's page says so
    receipt_proofs.record_download(
        found, contribution, current_user, after_close_for(current_user, found)
    )
    response = Response(receipt_proofs.bundle_json(bundle), mimetype="application/json")
    name = f"receipt-proof-{found.reference}-v{contribution.version}.json"
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
