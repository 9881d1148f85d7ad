"""The reference CMS's test and administration endpoints, offered only with `--faults`: scripted
failures (`/_faults`), the records it holds (`/_records`), and the changes a CMS's own users
would make (`/_cases`): a new case, the children on a case changed (one leaves it, or is
recorded under another person), or a person record made for a child listed without one.
No bearer token: like the fault switches, they exist only where tests run."""

from __future__ import annotations

import sqlite3
from typing import Any

from flask import Blueprint, Response, jsonify, request

from reference_cms.replies import child_json, error, errors, faults, respond, store
from reference_cms.store import Case, Child, PersonIdRefused

blueprint = Blueprint("faults", __name__)

_CHILD_FIELDS = ("person_id", "name", "date_of_birth", "nhs_number", "upn")
_REQUIRED_CHILD_FIELDS = frozenset({"name", "date_of_birth"})


@blueprint.post("/_faults")
def set_faults() -> Response:
    plan = faults()
    assert plan is not None  # noqa: S101  # the blueprint is registered only with faults
    settings = request.get_json(silent=True)
    if not isinstance(settings, dict):
        return errors(400, "body", "send a JSON object")
    refused = plan.update(settings)
    if refused:
        return respond(422, {"errors": refused})
    return jsonify(plan.state())


@blueprint.delete("/_faults")
def clear_faults() -> Response:
    plan = faults()
    assert plan is not None  # noqa: S101  # the blueprint is registered only with faults
    plan.clear()
    return jsonify(plan.state())


@blueprint.get("/_records")
def list_records() -> Response:
    records = [
        {
            "record_id": r.record_id,
            "idempotency_key": r.idempotency_key,
            "case_reference": r.case_reference,
        }
        for r in store().list_contributions()
    ]
    return jsonify(records=records)


@blueprint.get("/_records/<record_id>")
def show_record(record_id: str) -> Response:
    """One record with the body exactly as it was received, so a test can check what was sent."""
    record = store().find_contribution(record_id)
    body = store().body_of(record_id)
    if record is None or body is None:
        return error(404, "not_found")
    return jsonify(
        record_id=record.record_id,
        idempotency_key=record.idempotency_key,
        case_reference=record.case_reference,
        body=body,
    )


@blueprint.delete("/_records/<record_id>")
def delete_record(record_id: str) -> Response:
    if not store().delete_contribution(record_id):
        return error(404, "not_found")
    return Response(status=204)


@blueprint.post("/_cases")
def add_case() -> Response:
    """A case as the CMS holds it, identifiers unchecked (a real CMS's data may be wrong)."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return errors(400, "body", "send a JSON object")
    refused = _case_errors(body)
    if refused:
        return respond(422, {"errors": refused})
    if store().find_case(body["reference"]) is not None:
        return error(409, "case_exists")
    try:
        store().add_case(Case(body["reference"], body["team"], _children(body)))
    except sqlite3.IntegrityError:
        return error(409, "person_id_taken")  # a person id is unique across the CMS
    return respond(201, {"reference": body["reference"]})


@blueprint.put("/_cases/<reference>/children")
def replace_children(reference: str) -> Response:
    """The children on the case as the CMS's users now record them, in order, replacing those
    it listed: 404 when there is no such case, 409 `person_id_taken` when a person id is
    another case's child's."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return errors(400, "body", "send a JSON object")
    refused = _children_errors(body.get("children"))
    if refused:
        return respond(422, {"errors": refused})
    try:
        if not store().replace_children(reference, _children(body)):
            return error(404, "not_found")
    except sqlite3.IntegrityError:
        return error(409, "person_id_taken")
    return respond(200, {"reference": reference, "children": len(body["children"])})


def _children(body: dict[str, Any]) -> tuple[Child, ...]:
    return tuple(
        Child(**{name: child.get(name) for name in _CHILD_FIELDS}) for child in body["children"]
    )


@blueprint.post("/_cases/<reference>/person-ids")
def give_person_id(reference: str) -> Response:
    """The CMS makes a person record for the child on this case with this name and date of
    birth who has none: 404 `no_such_child` when there is not exactly one such child, 409
    `person_id_taken` when another person has the id."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return errors(400, "body", "send a JSON object")
    for name in ("name", "date_of_birth", "person_id"):
        if not _is_text(body.get(name)):
            return errors(422, name, "must be a non-empty string")
    try:
        child = store().give_person_id(
            reference, body["name"], body["date_of_birth"], body["person_id"]
        )
    except PersonIdRefused as refused:
        return error(404 if refused.code == "no_such_child" else 409, refused.code)
    return respond(200, child_json(child))


def _case_errors(body: dict[str, Any]) -> list[dict[str, str]]:
    found = [
        {"field": name, "message": "must be a non-empty string"}
        for name in ("reference", "team")
        if not _is_text(body.get(name))
    ]
    return found + _children_errors(body.get("children"))


def _children_errors(children: Any) -> list[dict[str, str]]:
    if not isinstance(children, list):
        return [{"field": "children", "message": "must be a list"}]
    found: list[dict[str, str]] = []
    for index, child in enumerate(children):
        if not isinstance(child, dict) or set(child) - set(_CHILD_FIELDS):
            found.append({"field": f"children[{index}]", "message": "must be a child object"})
            continue
        found.extend(
            {"field": f"children[{index}].{name}", "message": "must be a non-empty string"}
            for name in _CHILD_FIELDS
            if (name in _REQUIRED_CHILD_FIELDS or child.get(name) is not None)
            and not _is_text(child.get(name))
        )
    return found


def _is_text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())
