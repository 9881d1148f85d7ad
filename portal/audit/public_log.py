"""The audit log's public face, for anyone holding a receipt's proof (docs/receipts.md): the
newest witnessed tree head, consistency proofs between witnessed sizes, and the key the heads
are signed with. No sign-in, rate-limited (portal/auth/rate_limits.py), and nothing about any
case is read: only tree heads, their witness records and the tree's hashes
(portal/audit/proofs.py). Nothing is recorded either: these show nothing sensitive.
"""

from __future__ import annotations

import base64
import re

from flask import Blueprint, Response, jsonify, request
from flask.typing import ResponseReturnValue

from portal import db
from portal.audit.note import verifier_key
from portal.audit.proofs import (
    LARGEST_SIZE,
    consistency_hashes,
    latest_witnessed_head,
    witnessed_head,
)
from portal.audit.runtime import audit_keys
from portal.audit.tree_store import MissingNode
from portal.auth.policy import PUBLIC, access

blueprint = Blueprint("audit_log", __name__, url_prefix="/audit-log")
_DECIMAL = re.compile(r"0|[1-9][0-9]{0,18}")


def _text(body: str) -> Response:
    return Response(body, mimetype="text/plain")


@blueprint.get("/checkpoint")
@access(PUBLIC)
def checkpoint() -> ResponseReturnValue:
    """The newest witnessed tree head, as the signed note the witnesses hold."""
    head = latest_witnessed_head(db.session())
    if head is None:
        return _text("No checkpoint of the audit log has been witnessed yet.\n"), 404
    return _text(head.note)


@blueprint.get("/consistency")
@access(PUBLIC)
def consistency() -> ResponseReturnValue:
    """RFC 9162 consistency proof from the tree of size `old` to the witnessed head of size
    `new`, as a JSON list of base64 hashes."""
    old, new = _size("old"), _size("new")
    if old is None or new is None or not 0 < old <= new:
        return _text("Give old and new as tree sizes, 0 < old <= new.\n"), 400
    if witnessed_head(db.session(), new) is None:
        return _text("new must be the size of a witnessed checkpoint.\n"), 400
    try:
        proof = consistency_hashes(db.session(), old, new)
    except MissingNode:  # the stored tree lost a node: `portal audit verify` says which
        return _text("The log cannot make this proof now: part of its tree is missing.\n"), 503
    return jsonify([base64.b64encode(value).decode("ascii") for value in proof])


@blueprint.get("/key")
@access(PUBLIC)
def key() -> ResponseReturnValue:
    """The log's verifier keys (C2SP signed-note `vkey`), one a line, the signing key first."""
    keys = audit_keys()
    return _text("".join(f"{verifier_key(keys.origin, k)}\n" for k in keys.trusted))


def _size(name: str) -> int | None:
    value = request.args.get(name, "")
    if not _DECIMAL.fullmatch(value):
        return None
    size = int(value)
    return size if size <= LARGEST_SIZE else None
