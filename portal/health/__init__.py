"""Liveness and readiness probes for load balancers and orchestrators. Open, and revealing
nothing but up or down."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify
from flask.typing import ResponseReturnValue

from portal.auth.policy import PUBLIC, access
from portal.extensions import csrf
from portal.startup import readiness

blueprint = Blueprint("health", __name__)
csrf.exempt(blueprint)


@blueprint.get("/healthz")
@access(PUBLIC)
def alive() -> ResponseReturnValue:
    return jsonify(status="alive")


@blueprint.get("/readyz")
@access(PUBLIC)
def ready() -> ResponseReturnValue:
    checks = readiness(current_app)
    ok = all(checks.values())
    body = {"status": "ready" if ok else "not ready", "checks": checks}
    return jsonify(body), 200 if ok else 503
