"""What every part of the reference CMS answers with: JSON bodies and errors, and the app's
store and fault plan."""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, jsonify

from reference_cms.faults import FaultPlan
from reference_cms.store import CaseStore, Child


def store() -> CaseStore:
    return current_app.extensions["reference_cms"]["store"]  # type: ignore[no-any-return]


def faults() -> FaultPlan | None:
    return current_app.extensions["reference_cms"]["faults"]  # type: ignore[no-any-return]


def respond(status: int, payload: dict[str, Any]) -> Response:
    response = jsonify(payload)
    response.status_code = status
    return response


def error(status: int, code: str) -> Response:
    return respond(status, {"error": code})


def errors(status: int, field_name: str, message: str) -> Response:
    return respond(status, {"errors": [{"field": field_name, "message": message}]})


def child_json(child: Child) -> dict[str, str | None]:
    """A child as the case lookup shows it: the person id and identifiers may be null."""
    return {
        "person_id": child.person_id,
        "name": child.name,
        "date_of_birth": child.date_of_birth,
        "nhs_number": child.nhs_number,
        "upn": child.upn,
    }
