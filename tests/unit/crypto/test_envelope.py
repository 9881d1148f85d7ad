"""Tests for sealing and opening individual database fields."""

import uuid

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from portal.crypto import (
    FORMAT_VERSION,
    DataKey,
    DecryptionError,
    FieldLocation,
    data_key_context,
    new_data_key,
    open_field,
    seal_field,
)

ROW = uuid.UUID("0b6f3a52-1c1e-4c55-9a07-1f5d2b3c4d5e")
WHERE = FieldLocation(table="children", column="notes", row_id=ROW)


@pytest.fixture
def data_key() -> DataKey:
    return DataKey(id=uuid.uuid4(), key=new_data_key())


@pytest.mark.parametrize(
    "plaintext",
    [
        b"",
        b"x",
        b"Lives with grandmother",
        "Zo\u00eb \u2013 \u0141\u00f3d\u017a \U0001f600".encode(),
    ],
)
def test_round_trip(data_key: DataKey, plaintext: bytes) -> None:
    sealed = seal_field(data_key, WHERE, plaintext)
    assert sealed[0] == FORMAT_VERSION == 1
    assert sealed[1:17] == data_key.id.bytes
    assert len(sealed) == 1 + 16 + 12 + len(plaintext) + 16
    assert open_field(data_key, WHERE, sealed) == plaintext


def test_plaintext_not_visible_in_sealed_bytes(data_key: DataKey) -> None:
    plaintext = b"child protection plan: category neglect"
    assert plaintext[:8] not in seal_field(data_key, WHERE, plaintext)


@pytest.mark.parametrize(
    "elsewhere",
    [
        FieldLocation(table="families", column="notes", row_id=ROW),
        FieldLocation(table="children", column="address", row_id=ROW),
        FieldLocation(table="children", column="notes", row_id=uuid.uuid4()),
        # Same concatenated text, different split: the encoding must keep them apart.
        FieldLocation(table="childrenn", column="otes", row_id=ROW),
    ],
    ids=["table", "column", "row", "boundary"],
)
def test_other_location_refused(data_key: DataKey, elsewhere: FieldLocation) -> None:
    sealed = seal_field(data_key, WHERE, b"secret")
    with pytest.raises(DecryptionError) as caught:
        open_field(data_key, elsewhere, sealed)
    assert f"{elsewhere.table}.{elsewhere.column}" in str(caught.value)
    assert "secret" not in str(caught.value)


def test_other_data_key_refused(data_key: DataKey) -> None:
    sealed = seal_field(data_key, WHERE, b"secret")
    with pytest.raises(DecryptionError, match="different data key"):
        open_field(DataKey(id=uuid.uuid4(), key=new_data_key()), WHERE, sealed)


def test_same_id_different_key_bytes_refused(data_key: DataKey) -> None:
    sealed = seal_field(data_key, WHERE, b"secret")
    with pytest.raises(DecryptionError):
        open_field(DataKey(id=data_key.id, key=new_data_key()), WHERE, sealed)


def test_every_flipped_bit_refused(data_key: DataKey) -> None:
    sealed = seal_field(data_key, WHERE, b"abc")
    for position in range(len(sealed)):
        for bit in range(8):
            tampered = bytearray(sealed)
            tampered[position] ^= 1 << bit
            with pytest.raises(DecryptionError):
                open_field(data_key, WHERE, bytes(tampered))


def test_truncated_refused(data_key: DataKey) -> None:
    sealed = seal_field(data_key, WHERE, b"some text")
    for length in (0, 1, 17, 29, 44, len(sealed) - 1):
        with pytest.raises(DecryptionError):
            open_field(data_key, WHERE, sealed[:length])


def test_unknown_format_version_refused(data_key: DataKey) -> None:
    sealed = seal_field(data_key, WHERE, b"secret")
    with pytest.raises(DecryptionError, match="unknown format version 2"):
        open_field(data_key, WHERE, b"\x02" + sealed[1:])


def test_same_plaintext_sealed_twice_differs(data_key: DataKey) -> None:
    first = seal_field(data_key, WHERE, b"same")
    second = seal_field(data_key, WHERE, b"same")
    assert first != second
    assert first[17:29] != second[17:29]


def test_data_key_repr_hides_key() -> None:
    key = new_data_key()
    data_key = DataKey(id=ROW, key=key)
    assert str(ROW) in repr(data_key)
    assert key.hex() not in repr(data_key)
    assert repr(key)[2:-1] not in repr(data_key)


def test_data_key_must_be_32_bytes() -> None:
    with pytest.raises(ValueError):
        DataKey(id=ROW, key=b"\x00" * 16)


def test_data_key_context_binds_id() -> None:
    other = uuid.uuid4()
    assert data_key_context(ROW).endswith(ROW.bytes)
    assert data_key_context(ROW) != data_key_context(other)
    assert len(data_key_context(ROW)) == len(data_key_context(other))


def test_layout_matches_documented_format(data_key: DataKey) -> None:
    sealed = seal_field(data_key, WHERE, b"secret")
    header, nonce, body = sealed[:17], sealed[17:29], sealed[29:]
    ad = header
    for part in (b"children", b"notes", ROW.bytes):
        ad += len(part).to_bytes(4, "big") + part
    assert AESGCM(data_key.key).decrypt(nonce, body, ad) == b"secret"
    assert data_key_context(ROW) == b"portal/data-key/v1" + ROW.bytes
