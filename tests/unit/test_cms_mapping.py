"""CMS mapping files: the example loads, mistakes are refused with a message naming them, and the
defaults are the reference CMS's contract."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

import pytest

from portal.connector.mapping import (
    CHILD_FIELDS,
    DELIVERY_FIELDS,
    DOCUMENT_FIELDS,
    REFERENCE_MAPPING,
    MappingError,
    RestMapping,
    load_mapping,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "cms" / "mosaic-example.toml"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mapping.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_example_loads() -> None:
    mapping = load_mapping(EXAMPLE)

    assert "illustrative" in mapping.name.lower()
    assert mapping.auth.kind == "api_key"
    assert mapping.case_lookup.path == "/services/v2/case/{reference}"
    assert mapping.case_lookup.team == "owningTeam.name"
    assert mapping.deliver.fields["answers"] == "content.answers"
    assert mapping.deliver.fields["request_reference"] == "source.requestRef"
    assert mapping.deliver.document_fields == {
        "filename": "name",
        "content_type": "mimeType",
        "sha256": "checksum",
        "content_base64": "data",
    }
    assert mapping.deliver.record_id == "document.id"
    assert mapping.deliver.fields["children"] == "content.subjects"
    assert mapping.deliver.child_fields == {
        "person_id": "personId",
        "confirmation": "identityCheck.outcome",
        "matched_on": "identityCheck.matchedOn",
        "answers": "answers",
        "documents": "attachments",
    }
    assert mapping.deliver.per_child == "sections"
    assert mapping.case_lookup.child_nhs_number == "identifiers.nhsNumber"
    assert mapping.case_lookup.child_upn == "identifiers.upn"
    assert mapping.status.status == "document.state"
    assert (mapping.records.items, mapping.records.next) == ("items", "nextPage")
    assert mapping.records.cursor_parameter == "page"


def test_the_example_says_it_is_made_up() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    assert "made-up example" in text
    assert "do not know Mosaic's real" in text


def test_a_partial_file_keeps_the_reference_values_for_the_rest(tmp_path: Path) -> None:
    mapping = load_mapping(write(tmp_path, '[case_lookup]\nteam = "owner.team"\n'))

    assert mapping.case_lookup.team == "owner.team"
    assert mapping.case_lookup.path == REFERENCE_MAPPING.case_lookup.path
    assert mapping.deliver == REFERENCE_MAPPING.deliver
    assert mapping.auth == REFERENCE_MAPPING.auth


def test_delivery_fields_not_named_keep_their_own_names(tmp_path: Path) -> None:
    mapping = load_mapping(write(tmp_path, '[deliver.fields]\nanswers = "content.answers"\n'))

    assert mapping.deliver.fields["answers"] == "content.answers"
    assert mapping.deliver.fields["version"] == "version"
    assert set(mapping.deliver.fields) == set(DELIVERY_FIELDS)
    assert set(mapping.deliver.document_fields) == set(DOCUMENT_FIELDS)
    assert mapping.deliver.child_fields == {name: name for name in CHILD_FIELDS}


def test_child_fields_not_named_keep_their_own_names(tmp_path: Path) -> None:
    mapping = load_mapping(
        write(tmp_path, '[deliver.child_fields]\nperson_id = "subject.personId"\n')
    )

    assert mapping.deliver.child_fields["person_id"] == "subject.personId"
    assert mapping.deliver.child_fields["answers"] == "answers"
    assert set(mapping.deliver.child_fields) == set(CHILD_FIELDS)


def test_one_record_per_child_is_refused_with_the_reason(tmp_path: Path) -> None:
    with pytest.raises(MappingError) as raised:
        load_mapping(write(tmp_path, '[deliver]\nper_child = "records"\n'))

    message = str(raised.value)
    assert 'deliver.per_child: Value error, per_child = "records"' in message
    assert "exactly once" in message and 'Use "sections"' in message


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ('colour = "blue"\n', "colour: Extra inputs are not permitted"),
        ("[deliver]\nretries = 3\n", "deliver.retries: Extra inputs are not permitted"),
        ('[auth]\nkind = "mutual_tls"\n', "auth.kind"),
        ('[records]\npath = "services/v2/documents"\n', "records.path"),
        ('[deliver.fields]\nattachment_count = "count"\n', "unknown field(s) attachment_count"),
        ('[deliver.document_fields]\nsize = "bytes"\n', "unknown field(s) size"),
        ('[case_lookup]\nteam = "owningTeam..name"\n', "case_lookup.team"),
        ('[status]\nstatus = "document state"\n', "status.status"),
        ('[deliver.fields]\nanswers = "content/answers"\n', "answers must be a dotted path"),
        ('[deliver.document_fields]\nsha256 = ".checksum"\n', "sha256 must be a dotted path"),
        ('[case_lookup]\npath = "/cases/{ref}"\n', "must contain {reference}, once each"),
        ('[status]\npath = "/documents"\n', "must contain {record_id}, once each"),
        ('[records]\npath = "/documents/{page}"\n', "must contain no placeholder"),
        (
            '[deliver.fields]\nform_template = "content"\nanswers = "content.answers"\n',
            "content and content.answers overlap",
        ),
        ('[deliver.fields]\nanswers = "x"\nversion = "x"\n', "x and x overlap"),
        ('[deliver]\nper_child = "people"\n', "deliver.per_child: Input should be 'sections'"),
        ('[deliver.child_fields]\nname = "fullName"\n', "unknown field(s) name; known: person_id"),
        ('[deliver.child_fields]\nperson_id = "who..id"\n', "person_id must be a dotted path"),
        (
            '[deliver.child_fields]\nconfirmation = "check"\nmatched_on = "check.on"\n',
            "check and check.on overlap",
        ),
        ('[case_lookup]\nchild_nhs_number = "ids/nhs"\n', "case_lookup.child_nhs_number"),
        ('[case_lookup]\nchild_upn = ""\n', "case_lookup.child_upn"),
    ],
)
def test_mistakes_are_refused_by_name(tmp_path: Path, text: str, named: str) -> None:
    path = write(tmp_path, text)

    with pytest.raises(MappingError) as raised:
        load_mapping(path)

    message = str(raised.value)
    assert named in message
    assert message.startswith(f"The CMS mapping file {path} is wrong: ")


def test_an_unknown_delivery_field_message_lists_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(MappingError, match="known: request_reference, version"):
        load_mapping(write(tmp_path, '[deliver.fields]\nsubject = "x"\n'))


def test_bad_toml_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, '[case_lookup\nteam = "x"\n')

    with pytest.raises(MappingError, match=f"{re.escape(str(path))} is not valid TOML"):
        load_mapping(path)


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "absent.toml"

    with pytest.raises(MappingError) as raised:
        load_mapping(path)

    assert str(raised.value) == (
        f"Cannot read the CMS mapping file {path}: No such file or directory"
    )


def test_an_empty_file_is_the_reference_contract(tmp_path: Path) -> None:
    assert load_mapping(write(tmp_path, "")) == REFERENCE_MAPPING


def test_defaults_are_the_reference_contract() -> None:
    mapping = RestMapping()

    assert mapping.auth.kind == "client_credentials"
    assert mapping.auth.token_path == "/oauth/token"
    assert mapping.case_lookup.path == "/api/v1/cases/{reference}"
    assert mapping.deliver.path == "/api/v1/cases/{reference}/contributions"
    assert mapping.deliver.idempotency_header == "Idempotency-Key"
    assert (mapping.deliver.record_id, mapping.deliver.status) == ("record_id", "status")
    assert mapping.deliver.fields == {name: name for name in DELIVERY_FIELDS}
    assert mapping.deliver.document_fields == {name: name for name in DOCUMENT_FIELDS}
    assert mapping.deliver.child_fields == {name: name for name in CHILD_FIELDS}
    assert mapping.deliver.per_child == "sections"
    assert (mapping.case_lookup.child_nhs_number, mapping.case_lookup.child_upn) == (
        "nhs_number",
        "upn",
    )
    assert mapping.status.path == "/api/v1/contributions/{record_id}"
    assert mapping.records.path == "/api/v1/contributions"
    assert (mapping.records.items, mapping.records.next) == ("records", "next")
    assert mapping.records.cursor_parameter == "after"


def test_default_names_are_in_the_openapi_contract() -> None:
    """The integration tests show the reference CMS serves them (tests/integration)."""
    contract = resources.files("reference_cms").joinpath("openapi.yaml").read_text("utf-8")
    mapping = REFERENCE_MAPPING
    paths = (
        mapping.auth.token_path,
        mapping.case_lookup.path,
        mapping.deliver.path,
        mapping.status.path,
        mapping.records.path,
    )
    for path in paths:
        assert f"\n  {path}:\n" in contract
    assert f"name: {mapping.deliver.idempotency_header}" in contract
    assert f"name: {mapping.records.cursor_parameter}" in contract
    lookup = mapping.case_lookup
    children = (lookup.child_person_id, lookup.child_nhs_number, lookup.child_upn)
    names = (*DELIVERY_FIELDS, *DOCUMENT_FIELDS, *CHILD_FIELDS, *children)
    for name in (*names, "record_id", "idempotency_key"):
        assert f" {name}:" in contract
