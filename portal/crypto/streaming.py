"""Chunked streaming AEAD for files: encrypt and decrypt in bounded memory, refusing tampering."""

import os
import time
import uuid
from collections.abc import Iterator
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from portal.crypto.envelope import DataKey
from portal.crypto.errors import CryptoError, DecryptionError
from portal.security_costs import observe_document

MAGIC = b"PDSF"
STREAM_VERSION = 1
DEFAULT_CHUNK_SIZE = 64 * 1024
TAG_SIZE = 16
MAX_CHUNK_SIZE = 16 * 1024 * 1024
MAX_CHUNKS = 2**32 - 1
_SALT_SIZE = 32
_NONCE_PREFIX_SIZE = 7
_HEADER_SIZE = 4 + 1 + 4 + 16 + 16 + _SALT_SIZE + _NONCE_PREFIX_SIZE
_KDF_LABEL = b"portal/stream/v1"


def _derive_file_key(data_key: DataKey, file_id: uuid.UUID, salt: bytes) -> AESGCM:
    # A fresh key per file (random salt, file id in info) means the 7-byte random nonce prefix
    # never has to be unique across files that share one data key.
    hkdf = HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=salt,
        info=_KDF_LABEL + file_id.bytes + data_key.id.bytes,
    )
    return AESGCM(hkdf.derive(data_key.key))


def _chunk_nonce_and_ad(header: bytes, index: int, final: bool) -> tuple[bytes, bytes]:
    flag = b"\x01" if final else b"\x00"
    nonce = header[-_NONCE_PREFIX_SIZE:] + index.to_bytes(4, "big") + flag
    return nonce, header + index.to_bytes(8, "big") + flag


def _check_chunk_size(chunk_size: int) -> None:
    if not 1 <= chunk_size <= MAX_CHUNK_SIZE:
        raise ValueError(f"chunk_size must be between 1 and {MAX_CHUNK_SIZE} bytes.")


class StreamEncryptor:
    """Incremental encryptor: ``header()`` once, ``update()`` any number of times, ``finalize()``.

    Holds back at most one chunk so that the final flag lands on the real last chunk. A piece
    that is exactly one chunk of immutable ``bytes`` (as the document store reads them) is held
    back by reference and sealed where it lies; anything else is copied once into a reused
    chunk-sized buffer. Either way each plaintext byte is copied at most once before AES.
    """

    def __init__(
        self, data_key: DataKey, file_id: uuid.UUID, chunk_size: int = DEFAULT_CHUNK_SIZE
    ) -> None:
        _check_chunk_size(chunk_size)
        started = time.perf_counter()
        salt = os.urandom(_SALT_SIZE)
        self._chunk_size = chunk_size
        self._header = b"".join(
            [
                MAGIC,
                bytes([STREAM_VERSION]),
                chunk_size.to_bytes(4, "big"),
                file_id.bytes,
                data_key.id.bytes,
                salt,
                os.urandom(_NONCE_PREFIX_SIZE),
            ]
        )
        self._aead = _derive_file_key(data_key, file_id, salt)
        # Seconds of crypto so far, reported once the document is finished.
        self._busy = time.perf_counter() - started
        # The held-back plaintext is either `_whole` (a caller's full chunk) or the first
        # `_filled` bytes of `_assembly` (allocated on first use), never both.
        self._whole: bytes | None = None
        self._assembly = bytearray()
        self._filled = 0
        self._index = 0
        self._header_taken = False
        self._finished = False

    def header(self) -> bytes:
        """Return the stream header; call exactly once, before anything else."""
        if self._header_taken:
            raise CryptoError("The stream header has already been taken.")
        self._header_taken = True
        return self._header

    def update(self, data: bytes | bytearray) -> bytes:
        """Take ``data``; return ciphertext for every chunk now known not to be the last."""
        self._check_usable()
        filled = self._filled + len(data)
        if filled < self._chunk_size and self._assembly and self._whole is None:
            # A small piece that cannot complete the chunk being assembled: nothing to seal.
            self._assembly[self._filled : filled] = data
            self._filled = filled
            return b""
        with memoryview(data) as view:
            sealed = self._seal_all_but_last(data, view)
        return b"".join(sealed)

    def finalize(self) -> bytes:
        """Return the final chunk (0 to chunk_size plaintext bytes); the encryptor is then spent."""
        self._check_usable()
        with memoryview(self._assembly) as assembly:
            held = self._whole if self._whole is not None else assembly[: self._filled]
            last = self._seal(held, True)
        self._finished = True
        self._whole, self._assembly, self._filled = None, bytearray(), 0
        observe_document("encrypt", self._busy)
        return last

    def _seal_all_but_last(self, data: bytes | bytearray, view: memoryview) -> list[bytes]:
        size, end = self._chunk_size, len(view)
        position = self._top_up(view) if self._filled else 0
        sealed: list[bytes] = []
        # A full held chunk is only non-final once more data exists after it.
        if position < end:
            if self._whole is not None:
                sealed.append(self._seal(self._whole, False))
                self._whole = None
            elif self._filled == size:
                sealed.append(self._seal(self._assembly, False))
                self._filled = 0
        while end - position > size:
            sealed.append(self._seal(view[position : position + size], False))
            position += size
        if position == 0 and end == size and type(data) is bytes:
            # Only an immutable piece may be held by reference: a caller may reuse its buffer.
            self._whole = data
        elif position < end:
            self._top_up(view[position:])
        return sealed

    def _top_up(self, data: bytes | bytearray | memoryview) -> int:
        """Copy the start of `data` into the partly filled chunk; return how much was taken."""
        if not self._assembly:
            self._assembly = bytearray(self._chunk_size)
        taken = min(self._chunk_size - self._filled, len(data))
        self._assembly[self._filled : self._filled + taken] = (
            data if taken == len(data) else data[:taken]
        )
        self._filled += taken
        return taken

    def _check_usable(self) -> None:
        if self._finished:
            raise CryptoError("The stream encryptor has already been finalized.")
        if not self._header_taken:
            raise CryptoError("Call header() and write its result before any chunk.")

    def _seal(self, chunk: bytes | bytearray | memoryview, final: bool) -> bytes:
        if self._index >= MAX_CHUNKS:
            raise CryptoError(f"A stream cannot hold more than {MAX_CHUNKS} chunks.")
        started = time.perf_counter()
        nonce, associated_data = _chunk_nonce_and_ad(self._header, self._index, final)
        self._index += 1
        sealed = self._aead.encrypt(nonce, chunk, associated_data)
        self._busy += time.perf_counter() - started
        return sealed


def encrypt_stream(
    data_key: DataKey,
    file_id: uuid.UUID,
    source: BinaryIO,
    sink: BinaryIO,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> int:
    """Encrypt ``source`` into ``sink`` (header then chunks); return the plaintext byte count."""
    encryptor = StreamEncryptor(data_key, file_id, chunk_size)
    sink.write(encryptor.header())
    total = 0
    while data := source.read(chunk_size):
        total += len(data)
        sink.write(encryptor.update(data))
    sink.write(encryptor.finalize())
    return total


def decrypt_stream(data_key: DataKey, file_id: uuid.UUID, source: BinaryIO) -> Iterator[bytes]:
    """Decrypt a stream from ``encrypt_stream``, yielding each chunk once it authenticates.

    The header is read and checked at call time; chunks are read one ahead, so memory stays at
    about two chunks. Each chunk is genuine, but truncation, reordering or appended data is only
    detected when the iterator reaches the end: treat the output as untrusted until the iterator
    finishes without DecryptionError (a streamed HTTP download must be aborted on error, not
    completed, so the client sees a failed transfer).
    """
    header = _read_exact(source, _HEADER_SIZE)
    refused = f"Encrypted file {file_id} refused"
    if len(header) < _HEADER_SIZE:
        raise DecryptionError(f"{refused}: the header is missing or short.")
    if header[:4] != MAGIC or header[4] != STREAM_VERSION:
        raise DecryptionError(f"{refused}: not a version {STREAM_VERSION} encrypted file.")
    chunk_size = int.from_bytes(header[5:9], "big")
    if not 1 <= chunk_size <= MAX_CHUNK_SIZE:
        raise DecryptionError(f"{refused}: the header has an impossible chunk size.")
    if header[9:25] != file_id.bytes:
        raise DecryptionError(f"{refused}: it belongs to another file.")
    if header[25:41] != data_key.id.bytes:
        raise DecryptionError(f"{refused}: it was encrypted under a different data key.")
    started = time.perf_counter()
    aead = _derive_file_key(data_key, file_id, header[41 : 41 + _SALT_SIZE])
    derived = time.perf_counter() - started
    return _decrypt_chunks(aead, header, chunk_size, source, refused, derived)


def _decrypt_chunks(
    aead: AESGCM, header: bytes, chunk_size: int, source: BinaryIO, refused: str, busy: float
) -> Iterator[bytes]:
    """The chunks' plaintext; `busy` (seconds of crypto so far) is reported at the end."""
    frame_size = chunk_size + TAG_SIZE
    current = _read_exact(source, frame_size)
    if not current:
        raise DecryptionError(f"{refused}: it has no chunks.")
    index = 0
    try:
        while True:
            if index >= MAX_CHUNKS:
                raise DecryptionError(f"{refused}: it has too many chunks.")
            # A short frame can only be the last; otherwise peek one frame ahead to find out.
            following = _read_exact(source, frame_size) if len(current) == frame_size else b""
            final = not following
            started = time.perf_counter()
            plaintext = _open_chunk(aead, header, index, final, current, refused)
            busy += time.perf_counter() - started
            if plaintext:
                yield plaintext
            if final:
                return
            current = following
            index += 1
    finally:
        observe_document("decrypt", busy)


def _open_chunk(
    aead: AESGCM, header: bytes, index: int, final: bool, frame: bytes, refused: str
) -> bytes:
    nonce, associated_data = _chunk_nonce_and_ad(header, index, final)
    try:
        return aead.decrypt(nonce, frame, associated_data)
    except InvalidTag:
        raise DecryptionError(
            f"{refused}: chunk {index} failed authentication (wrong key, tampered, "
            "truncated, reordered or extended)."
        ) from None


def _read_exact(source: BinaryIO, size: int) -> bytes:
    # Raw streams and sockets may return fewer bytes than asked; keep reading until size or EOF.
    data = source.read(size)
    if len(data) == size or not data:
        return data
    parts = [data]
    remaining = size - len(data)
    while remaining:
        more = source.read(remaining)
        if not more:
            break
        parts.append(more)
        remaining -= len(more)
    return b"".join(parts)
