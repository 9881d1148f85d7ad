"""No sensitive plaintext at rest: every sensitive column holds only ciphertext bound to its
row and field, under a per-record data key wrapped by a keyring outside the database."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.crypto import DecryptionError, FileKeyring
from portal.crypto.records import RecordCipher
from portal.lifecycle import ContributionStatus
from portal.models import (
    Attachment,
    Base,
    Child,
    ClientAuthMethod,
    Contribution,
    DataKey,
    DelegationRequest,
    IdentityProvider,
    OrganisationKind,
    Review,
    ReviewDecision,
    Role,
)
from portal.models.base import Sealed, utcnow
from tests.conftest import both_backends
from tests.factories import make_case, make_organisation, make_request, make_user

SENTENCE = "Zebra-7 told the nurse about the bruises on Tuesday"
# Columns that must exist, sealed: the design brief's sensitive data.
REQUIRED_SEALED = {
    ("children", "name_enc"),
    ("children", "date_of_birth_enc"),
    ("delegation_requests", "purpose_enc"),
    ("delegation_requests", "message_enc"),
    ("delegation_requests", "closing_reason_enc"),
    ("contributions", "answers_enc"),
    ("attachments", "filename_enc"),
    ("reviews", "reason_enc"),
    ("identity_providers", "client_secret_enc"),
    ("identity_providers", "client_key_enc"),
}


def sealed_columns() -> set[tuple[str, str]]:
    return {
        (table.name, column.name)
        for table in Base.metadata.sorted_tables
        for column in table.columns
        if column.name.endswith("_enc")
    }


def test_every_sensitive_field_is_a_sealed_column_on_a_keyed_table() -> None:
    assert REQUIRED_SEALED <= sealed_columns()
    for table_name, column_name in sealed_columns():
        table = Base.metadata.tables[table_name]
        assert isinstance(table.columns[column_name].type, sa.LargeBinary)
        assert "data_key_id" in table.columns, f"{table_name} seals data without a data key"
    # Nothing sensitive kept beside its ciphertext in plaintext.
    assert "name" not in Base.metadata.tables["children"].columns
    assert "answers" not in Base.metadata.tables["contributions"].columns


def fill_every_sealed_column(session: Session, cipher: RecordCipher) -> list[Sealed]:
    case, child = make_case(session, cipher, SENTENCE)
    cipher.seal_text(child, "date_of_birth_enc", SENTENCE)
    council = case.team.organisation
    worker = make_user(session, council, Role.SOCIAL_WORKER)
    school = make_organisation(session, OrganisationKind.SCHOOL)
    request = make_request(session, cipher, case, school, worker)
    for column in ("purpose_enc", "message_enc", "closing_reason_enc"):
        cipher.seal_text(request, column, SENTENCE)
    contribution = Contribution(
        request=request, version=1, created_by_id=worker.id, status=ContributionStatus.SUBMITTED
    )
    cipher.seal_json(contribution, "answers_enc", {"concerns": SENTENCE, "child": SENTENCE})
    session.add(contribution)
    session.flush()
    attachment = Attachment(
        contribution=contribution,
        answer_key="supporting-documents",
        content_type="application/pdf",
        size_bytes=10,
        uploaded_by_id=worker.id,
    )
    cipher.seal_text(attachment, "filename_enc", SENTENCE + ".pdf")
    review = Review(
        contribution_id=contribution.id, reviewer_id=worker.id, decision=ReviewDecision.REJECTED
    )
    cipher.seal_text(review, "reason_enc", SENTENCE)
    provider = IdentityProvider(
        organisation=school,
        slug="school",
        display_name="School IdP",
        issuer="https://idp.example/school",
        client_id="portal",
        client_auth_method=ClientAuthMethod.CLIENT_SECRET_BASIC,
    )
    cipher.seal_text(provider, "client_secret_enc", SENTENCE)
    cipher.seal_json(provider, "client_key_enc", {"d": SENTENCE})
    session.add_all([attachment, review, provider])
    session.commit()
    return [child, request, contribution, attachment, review, provider]


@both_backends
def test_a_raw_select_of_every_table_finds_no_trace_of_the_sentence(
    db_session: Session, keyring: FileKeyring
) -> None:
    cipher = RecordCipher(keyring, db_session)
    records = fill_every_sealed_column(db_session, cipher)
    filled = {(type(r).__tablename__, c) for r in records for c in sealed_columns_of(r)}
    assert REQUIRED_SEALED <= filled

    needles = [SENTENCE.encode(), b"Zebra-7", SENTENCE.encode("utf-16-le"), b"bruises"]
    connection = db_session.connection()
    for table in Base.metadata.sorted_tables:
        for row in connection.execute(sa.text(f"SELECT * FROM {table.name}")):  # noqa: S608
            for value in row:
                raw = value if isinstance(value, bytes) else str(value).encode()
                for needle in needles:
                    assert needle not in raw, f"plaintext found in {table.name}"

    # ...and yet everything reads back through the keyring.
    reader = RecordCipher(keyring, db_session)
    child = db_session.get(Child, records[0].id)
    assert child is not None
    assert reader.open_text(child, "name_enc") == SENTENCE
    contribution = db_session.get(Contribution, records[2].id)
    assert contribution is not None
    assert reader.open_json(contribution, "answers_enc")["concerns"] == SENTENCE


def sealed_columns_of(record: Sealed) -> list[str]:
    return [
        column
        for column in type(record).__table__.columns.keys()  # type: ignore[attr-defined]
        if column.endswith("_enc") and getattr(record, column) is not None
    ]


@both_backends
def test_ciphertext_copied_to_another_row_or_field_is_refused(
    db_session: Session, keyring: FileKeyring
) -> None:
    cipher = RecordCipher(keyring, db_session)
    _case, first = make_case(db_session, cipher, "First Child")
    _case2, second = make_case(db_session, cipher, "Second Child")
    db_session.commit()

    # Another row of the same table, even with that row's own data key.
    second.name_enc = first.name_enc
    second.data_key_id = first.data_key_id
    second.data_key = first.data_key
    with pytest.raises(DecryptionError):
        RecordCipher(keyring, db_session).open_text(second, "name_enc")

    # Another field of the same row.
    first.date_of_birth_enc = first.name_enc
    with pytest.raises(DecryptionError):
        RecordCipher(keyring, db_session).open_text(first, "date_of_birth_enc")


@both_backends
def test_each_record_gets_its_own_data_key_wrapped_by_the_keyring(
    db_session: Session, keyring: FileKeyring
) -> None:
    cipher = RecordCipher(keyring, db_session)
    _c1, first = make_case(db_session, cipher, "First Child")
    _c2, second = make_case(db_session, cipher, "Second Child")
    db_session.commit()

    assert first.data_key_id != second.data_key_id
    for child in (first, second):
        key = db_session.get(DataKey, child.data_key_id)
        assert key is not None and key.wrapped_key is not None
        assert key.kek_version == keyring.active_version
        assert len(key.wrapped_key) == 12 + 32 + 16  # nonce, key, tag: never the bare key


def test_another_keyring_cannot_read_the_data(
    db_session: Session, keyring: FileKeyring, tmp_path
) -> None:
    cipher = RecordCipher(keyring, db_session)
    _case, child = make_case(db_session, cipher, "Some Child")
    db_session.commit()
    stranger = FileKeyring.create(tmp_path / "other.json")

    with pytest.raises(DecryptionError):
        RecordCipher(stranger, db_session).open_text(child, "name_enc")


def test_shredding_the_data_key_makes_the_record_unreadable(
    db_session: Session, keyring: FileKeyring
) -> None:
    cipher = RecordCipher(keyring, db_session)
    _case, child = make_case(db_session, cipher, "Some Child")
    db_session.commit()
    key = db_session.get(DataKey, child.data_key_id)
    assert key is not None
    key.wrapped_key = None
    key.shredded_at = utcnow()
    db_session.commit()

    with pytest.raises(DecryptionError, match="shredded"):
        RecordCipher(keyring, db_session).open_text(child, "name_enc")


def test_only_encrypted_columns_can_be_sealed(db_session: Session, keyring: FileKeyring) -> None:
    cipher = RecordCipher(keyring, db_session)
    request = DelegationRequest()
    with pytest.raises(ValueError, match="not an encrypted column"):
        cipher.seal_text(request, "lawful_basis", "x")
