"""Tests for the chunked streaming AEAD used for files."""

import io
import os
import secrets
import uuid
from types import SimpleNamespace

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from portal.crypto import (
    MAGIC,
    CryptoError,
    DataKey,
    DecryptionError,
    StreamEncryptor,
    decrypt_stream,
    encrypt_stream,
    new_data_key,
)

CHUNK = 64
FRAME = CHUNK + 16
HEADER = 80
FILE_ID = uuid.UUID("4f0c9a8e-7d6b-4a5c-8e3f-2a1b0c9d8e7f")


@pytest.fixture
def data_key() -> DataKey:
    return DataKey(id=uuid.uuid4(), key=new_data_key())


def encrypt(data_key: DataKey, data: bytes, file_id: uuid.UUID = FILE_ID) -> bytes:
    sink = io.BytesIO()
    assert encrypt_stream(data_key, file_id, io.BytesIO(data), sink, chunk_size=CHUNK) == len(data)
    return sink.getvalue()


def decrypt(data_key: DataKey, encrypted: bytes, file_id: uuid.UUID = FILE_ID) -> bytes:
    return b"".join(decrypt_stream(data_key, file_id, io.BytesIO(encrypted)))


def split(encrypted: bytes) -> tuple[bytes, list[bytes]]:
    body = encrypted[HEADER:]
    return encrypted[:HEADER], [body[i : i + FRAME] for i in range(0, len(body), FRAME)]


def payload(size: int) -> bytes:
    return os.urandom(size)


@pytest.mark.parametrize(
    "size",
    [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK, 1 + secrets.randbelow(50 * CHUNK)],
    ids=["0", "1", "chunk-1", "chunk", "chunk+1", "3chunks", "random"],
)
def test_round_trip(data_key: DataKey, size: int) -> None:
    data = payload(size)
    encrypted = encrypt(data_key, data)
    assert encrypted.startswith(MAGIC)
    chunks = max(1, -(-size // CHUNK))
    assert len(encrypted) == HEADER + size + 16 * chunks
    assert decrypt(data_key, encrypted) == data


def test_default_chunk_size_round_trip(data_key: DataKey) -> None:
    data = payload(200_000)
    sink = io.BytesIO()
    encrypt_stream(data_key, FILE_ID, io.BytesIO(data), sink)
    assert b"".join(decrypt_stream(data_key, FILE_ID, io.BytesIO(sink.getvalue()))) == data


def test_encryptor_in_uneven_pieces_matches_encrypt_stream(data_key: DataKey) -> None:
    data = payload(10 * CHUNK + 7)
    encryptor = StreamEncryptor(data_key, FILE_ID, chunk_size=CHUNK)
    output = [encryptor.header()]
    position = 0
    for size in [1, 63, 0, 64, 65, 2, 200, 130, 3]:
        piece = encryptor.update(data[position : position + size])
        assert len(piece) % FRAME == 0
        output.append(piece)
        position += size
    output.append(encryptor.update(data[position:]))
    output.append(encryptor.finalize())
    encrypted = b"".join(output)
    assert len(encrypted) == len(encrypt(data_key, data))
    assert decrypt(data_key, encrypted) == data


def test_encryptor_holds_back_a_full_chunk_until_more_arrives(data_key: DataKey) -> None:
    encryptor = StreamEncryptor(data_key, FILE_ID, chunk_size=CHUNK)
    header = encryptor.header()
    data = payload(CHUNK)
    assert encryptor.update(data) == b""
    first = encryptor.update(b"x")
    assert len(first) == FRAME
    last = encryptor.finalize()
    assert len(last) == 1 + 16
    assert decrypt(data_key, header + first + last) == data + b"x"


def test_encryptor_misuse_refused(data_key: DataKey) -> None:
    encryptor = StreamEncryptor(data_key, FILE_ID, chunk_size=CHUNK)
    with pytest.raises(CryptoError):
        encryptor.update(b"data before header")
    encryptor.header()
    with pytest.raises(CryptoError):
        encryptor.header()
    encryptor.finalize()
    with pytest.raises(CryptoError):
        encryptor.update(b"more")
    with pytest.raises(CryptoError):
        encryptor.finalize()


@pytest.mark.parametrize("chunk_size", [0, -1, 16 * 1024 * 1024 + 1])
def test_encryptor_refuses_absurd_chunk_size(data_key: DataKey, chunk_size: int) -> None:
    with pytest.raises(ValueError):
        StreamEncryptor(data_key, FILE_ID, chunk_size=chunk_size)


def test_same_data_encrypts_differently(data_key: DataKey) -> None:
    data = payload(3 * CHUNK)
    assert encrypt(data_key, data) != encrypt(data_key, data)


def assert_refused(data_key: DataKey, encrypted: bytes, file_id: uuid.UUID = FILE_ID) -> None:
    with pytest.raises(DecryptionError):
        decrypt(data_key, encrypted, file_id)


def test_truncated_at_chunk_boundary_refused(data_key: DataKey) -> None:
    encrypted = encrypt(data_key, payload(3 * CHUNK))
    for frames in (1, 2):
        assert_refused(data_key, encrypted[: HEADER + frames * FRAME])


def test_truncated_mid_chunk_refused(data_key: DataKey) -> None:
    encrypted = encrypt(data_key, payload(3 * CHUNK))
    for length in (HEADER + 1, HEADER + FRAME + 10, len(encrypted) - 1):
        assert_refused(data_key, encrypted[:length])


def test_header_only_or_short_header_refused(data_key: DataKey) -> None:
    encrypted = encrypt(data_key, payload(CHUNK + 5))
    for length in (0, 3, HEADER - 1, HEADER):
        assert_refused(data_key, encrypted[:length])


def test_final_chunk_dropped_refused(data_key: DataKey) -> None:
    header, frames = split(encrypt(data_key, payload(2 * CHUNK + 30)))
    assert len(frames) == 3
    assert_refused(data_key, header + b"".join(frames[:-1]))


def test_extra_data_appended_refused(data_key: DataKey) -> None:
    encrypted = encrypt(data_key, payload(2 * CHUNK + 30))
    header, frames = split(encrypted)
    assert_refused(data_key, encrypted + frames[0])
    assert_refused(data_key, encrypted + frames[-1])
    assert_refused(data_key, encrypted + b"\x00")
    full_header, full_frames = split(encrypt(data_key, payload(2 * CHUNK)))
    assert_refused(data_key, full_header + b"".join(full_frames) + full_frames[1])


def test_swapped_chunks_refused(data_key: DataKey) -> None:
    header, frames = split(encrypt(data_key, payload(3 * CHUNK + 5)))
    frames[0], frames[1] = frames[1], frames[0]
    assert_refused(data_key, header + b"".join(frames))


def test_duplicated_chunk_refused(data_key: DataKey) -> None:
    header, frames = split(encrypt(data_key, payload(3 * CHUNK + 5)))
    assert_refused(data_key, header + b"".join([frames[0], *frames]))
    assert_refused(data_key, header + b"".join([*frames[:2], frames[1], *frames[2:]]))


@pytest.mark.parametrize("other_file_id", [uuid.uuid4(), FILE_ID], ids=["other-id", "same-id"])
def test_chunk_from_another_file_spliced_in_refused(
    data_key: DataKey, other_file_id: uuid.UUID
) -> None:
    header, frames = split(encrypt(data_key, payload(3 * CHUNK + 5)))
    _, other_frames = split(encrypt(data_key, payload(3 * CHUNK + 5), other_file_id))
    frames[1] = other_frames[1]
    assert_refused(data_key, header + b"".join(frames))


def test_wrong_file_id_refused(data_key: DataKey) -> None:
    encrypted = encrypt(data_key, payload(CHUNK))
    with pytest.raises(DecryptionError, match="another file"):
        decrypt(data_key, encrypted, uuid.uuid4())


def test_wrong_data_key_refused(data_key: DataKey) -> None:
    encrypted = encrypt(data_key, payload(CHUNK))
    assert_refused(DataKey(id=uuid.uuid4(), key=data_key.key), encrypted)
    assert_refused(DataKey(id=data_key.id, key=new_data_key()), encrypted)


def test_flipped_bit_in_header_refused(data_key: DataKey) -> None:
    encrypted = encrypt(data_key, payload(CHUNK + 5))
    for position in range(HEADER):
        tampered = bytearray(encrypted)
        tampered[position] ^= 0x01
        assert_refused(data_key, bytes(tampered))


def test_flipped_bit_in_chunk_refused(data_key: DataKey) -> None:
    encrypted = encrypt(data_key, payload(CHUNK + 5))
    for position in range(HEADER, len(encrypted)):
        tampered = bytearray(encrypted)
        tampered[position] ^= 0x80
        assert_refused(data_key, bytes(tampered))


def test_absurd_chunk_size_in_header_refused(data_key: DataKey) -> None:
    encrypted = encrypt(data_key, payload(CHUNK))
    for size in (0, 16 * 1024 * 1024 + 1, 2**32 - 1):
        assert_refused(data_key, encrypted[:5] + size.to_bytes(4, "big") + encrypted[9:])


class RecordingReader(io.RawIOBase):
    """Serves bytes in short reads and records how much was asked for and delivered."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)
        self.largest_request = 0
        self.total_read = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        self.largest_request = max(self.largest_request, size if size >= 0 else 1 << 62)
        # Deliver at most 50 bytes per call, like a socket would, to exercise re-reading.
        data = self._data.read(min(size, 50) if size >= 0 else -1)
        self.total_read += len(data)
        return data


def test_decrypt_reads_in_bounded_pieces(data_key: DataKey) -> None:
    data = payload(40 * CHUNK + 3)
    encrypted = encrypt(data_key, data)
    reader = RecordingReader(encrypted)
    chunks = decrypt_stream(data_key, FILE_ID, reader)  # type: ignore[arg-type]
    first = next(chunks)
    assert first == data[:CHUNK]
    assert reader.total_read <= HEADER + 2 * FRAME
    rest = b"".join(chunks)
    assert first + rest == data
    assert reader.total_read == len(encrypted)
    assert reader.largest_request <= max(FRAME, HEADER)


def test_encrypt_reads_in_chunk_sized_pieces(data_key: DataKey) -> None:
    data = payload(10 * CHUNK)
    reader = RecordingReader(data)
    sink = io.BytesIO()
    assert encrypt_stream(data_key, FILE_ID, reader, sink, chunk_size=CHUNK) == len(data)  # type: ignore[arg-type]
    assert reader.largest_request == CHUNK
    assert decrypt(data_key, sink.getvalue()) == data


def test_chunk_size_in_header_is_authenticated(data_key: DataKey) -> None:
    # One short chunk frames identically under either size, so only the AD binding catches it.
    encrypted = encrypt(data_key, payload(5))
    assert_refused(data_key, encrypted[:5] + (2 * CHUNK).to_bytes(4, "big") + encrypted[9:])


def test_layout_matches_documented_format(data_key: DataKey) -> None:
    data = payload(CHUNK + 5)
    header, frames = split(encrypt(data_key, data))
    assert header[:4] == b"PDSF"
    assert header[4] == 1
    assert int.from_bytes(header[5:9], "big") == CHUNK
    assert header[9:25] == FILE_ID.bytes
    assert header[25:41] == data_key.id.bytes
    salt, prefix = header[41:73], header[73:80]
    info = b"portal/stream/v1" + FILE_ID.bytes + data_key.id.bytes
    file_key = HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(data_key.key)
    plaintext = b""
    for index, frame in enumerate(frames):
        flag = bytes([index == len(frames) - 1])
        nonce = prefix + index.to_bytes(4, "big") + flag
        ad = header + index.to_bytes(8, "big") + flag
        plaintext += AESGCM(file_key).decrypt(nonce, frame, ad)
    assert plaintext == data


def fixed_randomness(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same salt and nonce prefix for every encryptor, so two encryptions compare."""
    fixed = SimpleNamespace(urandom=lambda size: bytes(range(size)))
    monkeypatch.setattr("portal.crypto.streaming.os", fixed)


def encrypt_in_pieces(data_key: DataKey, pieces: list[bytes | bytearray]) -> bytes:
    encryptor = StreamEncryptor(data_key, FILE_ID, chunk_size=CHUNK)
    output = [encryptor.header()]
    fed = 0
    for piece in pieces:
        sealed = encryptor.update(piece)
        fed += len(piece)
        # Exactly one chunk (possibly partial, possibly empty) is always held back.
        assert len(sealed) % FRAME == 0
        output.append(sealed)
        assert sum(map(len, output)) - HEADER == FRAME * max(0, -(-fed // CHUNK) - 1)
    output.append(encryptor.finalize())
    return b"".join(output)


@pytest.mark.parametrize(
    "sizes",
    [
        [CHUNK] * 4,
        [2 * CHUNK, CHUNK],
        [CHUNK + 1, CHUNK - 1, CHUNK],
        [5, CHUNK, CHUNK - 5, CHUNK],
        [CHUNK - 1, 1, CHUNK, 3 * CHUNK + 7],
        [1] * (2 * CHUNK + 3),
        [3 * CHUNK],
    ],
    ids=["aligned", "double-then-one", "straddling", "partial-then-whole", "mixed", "bytes", "one"],
)
@pytest.mark.parametrize("kind", [bytes, bytearray])
def test_any_split_into_pieces_gives_the_same_stream(
    data_key: DataKey, monkeypatch: pytest.MonkeyPatch, sizes: list[int], kind: type
) -> None:
    fixed_randomness(monkeypatch)
    data = payload(sum(sizes))
    whole = encrypt_in_pieces(data_key, [data])
    offsets = [sum(sizes[:i]) for i in range(len(sizes) + 1)]
    pieces = [kind(data[a:b]) for a, b in zip(offsets, offsets[1:], strict=False)]
    assert encrypt_in_pieces(data_key, pieces) == whole
    assert decrypt(data_key, whole) == data


def test_random_splits_give_the_same_stream(
    data_key: DataKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    fixed_randomness(monkeypatch)
    data = payload(40 * CHUNK + 11)
    whole = encrypt_in_pieces(data_key, [data])
    for _ in range(20):
        pieces: list[bytes | bytearray] = []
        position = 0
        while position < len(data):
            size = secrets.choice([0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, 100, 3])
            piece = data[position : position + size]
            pieces.append(piece if secrets.randbelow(2) else bytearray(piece))
            position += size
        assert encrypt_in_pieces(data_key, pieces) == whole


def test_a_reused_buffer_is_encrypted_as_it_was_when_given(data_key: DataKey) -> None:
    # A caller reading into one bytearray again and again must not change what was held back.
    data = payload(5 * CHUNK + 9)
    encryptor = StreamEncryptor(data_key, FILE_ID, chunk_size=CHUNK)
    output = [encryptor.header()]
    buffer = bytearray(CHUNK)
    for start in range(0, len(data), CHUNK):
        piece = data[start : start + CHUNK]
        buffer[: len(piece)] = piece
        output.append(encryptor.update(buffer if len(piece) == CHUNK else buffer[: len(piece)]))
        buffer[:] = bytes(CHUNK)
    output.append(encryptor.finalize())
    assert decrypt(data_key, b"".join(output)) == data
