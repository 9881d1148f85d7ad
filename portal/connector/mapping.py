"""How a CMS's REST API is laid out: endpoints, authentication and field names.

The defaults are the reference CMS's contract (reference_cms/openapi.yaml). A council whose CMS
differs writes a TOML mapping file naming only what differs (docs/cms-adapters.md); the generic
adapter reads it with `load_mapping`. Field names are dotted paths into the JSON bodies.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

DELIVERY_FIELDS = (
    "request_reference",
    "version",
    "partner_organisation",
    "submitted_at",
    "form_template",
    "form_template_version",
    "answers",
    "documents",
    "children",
)
DOCUMENT_FIELDS = ("filename", "content_type", "sha256", "content_base64")
# Within each child's section: the CMS's person id, the partner's confirmation of the child
# and what it matched on, and the answers and documents about that child.
CHILD_FIELDS = ("person_id", "confirmation", "matched_on", "answers", "documents")
DottedPath = str  # "a.b.c": keys into nested JSON objects
_DOTTED = r"^[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z_][A-Za-z0-9_-]*)*$"
_PATH = r"^/[^?#\s]*$"


class MappingError(Exception):
    """The mapping file is missing or wrong; the message says which field and why."""


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AuthMapping(_Part):
    # client_credentials: OAuth 2.0 tokens from token_path; api_key: the client secret is sent
    # as-is in api_key_header on every call.
    kind: Literal["client_credentials", "api_key"] = "client_credentials"
    token_path: str = Field(default="/oauth/token", pattern=_PATH)
    client_authentication: Literal["basic", "form"] = "basic"
    scope: str | None = None
    api_key_header: str = Field(default="X-Api-Key", pattern=r"^[A-Za-z0-9-]+$")


def _placeholders(path: str, allowed: set[str]) -> str:
    named = set(re.findall(r"{([^{}]*)}", path))
    if named != allowed or path.count("{") != len(allowed) or path.count("}") != len(allowed):
        wanted = ", ".join(f"{{{name}}}" for name in sorted(allowed)) or "no placeholder"
        raise ValueError(f"must contain {wanted}, once each")
    return path


class CaseLookupMapping(_Part):
    path: str = Field(default="/api/v1/cases/{reference}", pattern=_PATH)

    @field_validator("path")
    @classmethod
    def _has_reference(cls, value: str) -> str:
        return _placeholders(value, {"reference"})

    reference: DottedPath = Field(default="reference", pattern=_DOTTED)
    team: DottedPath = Field(default="team", pattern=_DOTTED)
    children: DottedPath = Field(default="children", pattern=_DOTTED)
    # Within each child. A person id, NHS number or UPN that is missing or null is None: a CMS
    # may list a child before it has a person record for them.
    child_person_id: DottedPath = Field(default="person_id", pattern=_DOTTED)
    child_name: DottedPath = Field(default="name", pattern=_DOTTED)
    child_date_of_birth: DottedPath = Field(default="date_of_birth", pattern=_DOTTED)
    child_nhs_number: DottedPath = Field(default="nhs_number", pattern=_DOTTED)
    child_upn: DottedPath = Field(default="upn", pattern=_DOTTED)


def _identity(names: tuple[str, ...]) -> dict[str, str]:
    return {name: name for name in names}


class DeliverMapping(_Part):
    path: str = Field(default="/api/v1/cases/{reference}/contributions", pattern=_PATH)
    idempotency_header: str = Field(default="Idempotency-Key", pattern=r"^[A-Za-z0-9-]+$")
    record_id: DottedPath = Field(default="record_id", pattern=_DOTTED)
    status: DottedPath = Field(default="status", pattern=_DOTTED)
    # The portal's name for each part of a delivery → where the CMS wants it in the body.
    fields: dict[str, DottedPath] = Field(default_factory=lambda: _identity(DELIVERY_FIELDS))
    document_fields: dict[str, DottedPath] = Field(
        default_factory=lambda: _identity(DOCUMENT_FIELDS)
    )
    child_fields: dict[str, DottedPath] = Field(default_factory=lambda: _identity(CHILD_FIELDS))
    # How per-child answers reach the CMS: "sections", one record holding a section per child.
    # "records" (one record per child) is refused: see _one_record_per_delivery.
    per_child: Literal["sections", "records"] = "sections"

    @field_validator("path")
    @classmethod
    def _has_reference(cls, value: str) -> str:
        return _placeholders(value, {"reference"})

    @field_validator("fields")
    @classmethod
    def _every_delivery_field(cls, value: dict[str, str]) -> dict[str, str]:
        return _complete(value, DELIVERY_FIELDS)

    @field_validator("document_fields")
    @classmethod
    def _every_document_field(cls, value: dict[str, str]) -> dict[str, str]:
        return _complete(value, DOCUMENT_FIELDS)

    @field_validator("child_fields")
    @classmethod
    def _every_child_field(cls, value: dict[str, str]) -> dict[str, str]:
        return _complete(value, CHILD_FIELDS)

    @field_validator("per_child")
    @classmethod
    def _one_record_per_delivery(cls, value: str) -> str:
        """Exactly-once rests on one POST under one idempotency key, answered with one record
        id that the portal records, shows and reconciles. A record per child would need a key
        per child, a partial success the outbox cannot record and several record ids per
        delivery: not supported, rather than half-supported."""
        if value == "records":
            raise ValueError(
                'per_child = "records" (one CMS record per child) is not supported: a delivery '
                "is one record under one idempotency key, so that it reaches the CMS exactly "
                'once. Use "sections" (one record with a section per child, each named by its '
                "person id; docs/cms-adapters.md)"
            )
        return value


class StatusMapping(_Part):
    path: str = Field(default="/api/v1/contributions/{record_id}", pattern=_PATH)
    status: DottedPath = Field(default="status", pattern=_DOTTED)

    @field_validator("path")
    @classmethod
    def _has_record_id(cls, value: str) -> str:
        return _placeholders(value, {"record_id"})


class RecordsMapping(_Part):
    """The listing reconciliation reads, page by page, following a cursor."""

    path: str = Field(default="/api/v1/contributions", pattern=_PATH)

    @field_validator("path")
    @classmethod
    def _has_no_placeholder(cls, value: str) -> str:
        return _placeholders(value, set())

    items: DottedPath = Field(default="records", pattern=_DOTTED)
    next: DottedPath = Field(default="next", pattern=_DOTTED)
    cursor_parameter: str = "after"
    record_id: DottedPath = Field(default="record_id", pattern=_DOTTED)
    idempotency_key: DottedPath = Field(default="idempotency_key", pattern=_DOTTED)
    case_reference: DottedPath = Field(default="case_reference", pattern=_DOTTED)
    status: DottedPath = Field(default="status", pattern=_DOTTED)


class RestMapping(_Part):
    name: str = "reference CMS"
    auth: AuthMapping = AuthMapping()
    case_lookup: CaseLookupMapping = CaseLookupMapping()
    deliver: DeliverMapping = DeliverMapping()
    status: StatusMapping = StatusMapping()
    records: RecordsMapping = RecordsMapping()


REFERENCE_MAPPING = RestMapping()


def load_mapping(path: Path) -> RestMapping:
    try:
        with path.open("rb") as file:
            data = tomllib.load(file)
    except OSError as error:
        raise MappingError(f"Cannot read the CMS mapping file {path}: {error.strerror}") from None
    except tomllib.TOMLDecodeError as error:
        raise MappingError(f"The CMS mapping file {path} is not valid TOML: {error}") from None
    try:
        return RestMapping.model_validate(data)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in problem['loc'])}: {problem['msg']}"
            for problem in error.errors()
        )
        raise MappingError(f"The CMS mapping file {path} is wrong: {problems}") from None


def _complete(value: dict[str, str], names: tuple[str, ...]) -> dict[str, str]:
    unknown = sorted(set(value) - set(names))
    if unknown:
        raise ValueError(f"unknown field(s) {', '.join(unknown)}; known: {', '.join(names)}")
    bad = sorted(name for name, path in value.items() if not re.match(_DOTTED, path))
    if bad:
        raise ValueError(f"{', '.join(bad)} must be a dotted path such as a.b")
    complete = _identity(names) | value
    paths = sorted(complete.values())
    for index, earlier in enumerate(paths):
        for later in paths[index + 1 :]:
            if later == earlier or later.startswith(earlier + "."):
                raise ValueError(
                    f"{earlier} and {later} overlap: each field needs a place of its own"
                )
    return complete
