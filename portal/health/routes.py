"""Liveness and readiness probes for load balancers and orchestrators. Open, and revealing
nothing but up or down: each dependency's name and true or false."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify
from flask.typing import ResponseReturnValue

from portal.auth.policy import PUBLIC, access
from portal.extensions import csrf
from portal.health.checks import readiness

blueprint = Blueprint("health", __name__)
csrf.exempt(blueprint)


@blueprint.get("/healthz")
@access(PUBLIC)
def alive() -> ResponseReturnValue:
    return jsonify(status="alive")


@blueprint.get("/readyz")
@access(PUBLIC)
def ready() -> ResponseReturnValue:
    """503 when a dependency that gates readiness is down (portal.health.checks.py says
    which do); the others are listed either way."""
    result = readiness(current_app)
    body = {"status": "ready" if result.ready else "not ready", "checks": result.checks}
    return jsonify(body), 200 if result.ready else 503
