"""What a contribution body must be for the reference CMS to store it: one entry per refused
field (`{"field": "children[1].person_id", "message": …}`), and each person's part of it.

A contribution may carry a section per person (`children`): that person's answers, the
partner's confirmation of them and their documents, named by the CMS's own person id. A section
naming anyone who is not a child with a person record on the case is refused: the CMS files
nothing on a person it cannot find.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
from datetime import datetime
from typing import Any

from reference_cms.store import PersonSection

SHA256_HEX = frozenset("0123456789abcdef")
DOCUMENT_FIELDS = ("filename", "content_type", "sha256", "content_base64")
CONFIRMATIONS = frozenset({"known", "not_known", "not_this_child"})
MATCHED_ON = frozenset({"upn", "nhs_number", "name_and_date_of_birth"})
FieldError = dict[str, str]


def contribution_errors(body: dict[str, Any], people_on_case: set[str]) -> list[FieldError]:
    """Why a contribution body is unacceptable, one entry per field; empty when it is fine.
    `people_on_case` are the person ids of the case's children."""
    errors: list[FieldError] = []

    def check(name: str, ok: bool, message: str) -> None:
        if name not in body:
            errors.append({"field": name, "message": "is required"})
        elif not ok:
            errors.append({"field": name, "message": message})

    for name in ("request_reference", "partner_organisation", "form_template"):
        check(name, _is_text(body.get(name)), "must be a non-empty string")
    check("version", _is_int(body.get("version"), minimum=1), "must be a whole number, 1 or more")
    check(
        "form_template_version",
        _is_int(body.get("form_template_version")),
        "must be a whole number",
    )
    check("submitted_at", _is_timestamp(body.get("submitted_at")), "must be an ISO 8601 date-time")
    check("answers", isinstance(body.get("answers"), dict), "must be a JSON object")
    check("documents", isinstance(body.get("documents"), list), "must be a list")
    errors.extend(_documents_errors("documents", body.get("documents")))
    sections = body.get("children", [])
    if not isinstance(sections, list):
        errors.append({"field": "children", "message": "must be a list"})
    else:
        errors.extend(_sections_errors(sections, people_on_case))
    return errors


def person_sections(body: dict[str, Any]) -> tuple[PersonSection, ...]:
    """Each person's part of a checked body, without document content."""
    return tuple(
        PersonSection(
            section["person_id"],
            {
                "confirmation": section.get("confirmation"),
                "matched_on": section.get("matched_on"),
                "answers": section["answers"],
                "documents": [
                    {name: document[name] for name in ("filename", "content_type", "sha256")}
                    for document in section["documents"]
                ],
            },
        )
        for section in body.get("children", [])
    )


def _sections_errors(sections: list[Any], people_on_case: set[str]) -> list[FieldError]:
    errors: list[FieldError] = []
    seen: set[str] = set()
    for index, section in enumerate(sections):
        prefix = f"children[{index}]"
        if not isinstance(section, dict):
            errors.append({"field": prefix, "message": "must be a JSON object"})
            continue
        person = section.get("person_id")
        if not _is_text(person):
            errors.append({"field": f"{prefix}.person_id", "message": "must be a non-empty string"})
        elif person not in people_on_case:
            errors.append({"field": f"{prefix}.person_id", "message": "is not a child on the case"})
        elif person in seen:
            errors.append({"field": f"{prefix}.person_id", "message": "is named twice"})
        else:
            seen.add(person)
        errors.extend(_confirmation_errors(prefix, section))
        if not isinstance(section.get("answers"), dict):
            errors.append({"field": f"{prefix}.answers", "message": "must be a JSON object"})
        if not isinstance(section.get("documents"), list):
            errors.append({"field": f"{prefix}.documents", "message": "must be a list"})
        errors.extend(_documents_errors(f"{prefix}.documents", section.get("documents")))
    return errors


def _confirmation_errors(prefix: str, section: dict[str, Any]) -> list[FieldError]:
    """The partner's confirmation: absent (the request predates confirmations), or an answer,
    with what it matched on exactly when the answer is "known"."""
    confirmation, matched_on = section.get("confirmation"), section.get("matched_on")
    if confirmation is not None and confirmation not in CONFIRMATIONS:
        allowed = ", ".join(sorted(CONFIRMATIONS))
        return [{"field": f"{prefix}.confirmation", "message": f"must be null or one of {allowed}"}]
    if matched_on is not None and matched_on not in MATCHED_ON:
        allowed = ", ".join(sorted(MATCHED_ON))
        return [{"field": f"{prefix}.matched_on", "message": f"must be null or one of {allowed}"}]
    if (confirmation == "known") != (matched_on is not None):
        return [{"field": f"{prefix}.matched_on", "message": "is given when, and only when, known"}]
    return []


def _documents_errors(prefix: str, documents: Any) -> list[FieldError]:
    if not isinstance(documents, list):
        return []
    errors: list[FieldError] = []
    for index, document in enumerate(documents):
        errors.extend(_document_errors(f"{prefix}[{index}]", document))
    return errors


def _document_errors(prefix: str, document: Any) -> list[FieldError]:
    if not isinstance(document, dict):
        return [{"field": prefix, "message": "must be a JSON object"}]
    errors = [
        {"field": f"{prefix}.{name}", "message": "must be a non-empty string"}
        for name in DOCUMENT_FIELDS
        if not _is_text(document.get(name))
    ]
    if errors:
        return errors
    digest = document["sha256"].lower()
    if len(digest) != 64 or not SHA256_HEX.issuperset(digest):
        return [{"field": f"{prefix}.sha256", "message": "must be 64 hexadecimal characters"}]
    try:
        content = base64.b64decode(document["content_base64"], validate=True)
    except (binascii.Error, ValueError):
        return [{"field": f"{prefix}.content_base64", "message": "must be valid base64"}]
    if not secrets.compare_digest(hashlib.sha256(content).hexdigest(), digest):
        return [{"field": f"{prefix}.sha256", "message": "does not match the decoded content"}]
    return []


def _is_text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _is_int(value: Any, minimum: int | None = None) -> bool:
    if isinstance(value, bool) or not isinstance(value, int):
        return False
    return minimum is None or value >= minimum


def _is_timestamp(value: Any) -> bool:
    if not isinstance(value, str) or "T" not in value.upper():
        return False
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True
