"""Attachment encryption and decryption speed, as a ratio to `openssl speed -evp aes-256-gcm`
on the same machine.

The product's own path is timed: portal/crypto/streaming.py fed in the document store's
64 KiB pieces (portal/attachments/store.py), from random bytes in memory to a sink that
discards, so neither disk nor network is in the figure. The clock is process CPU time, as
`openssl speed` divides by CPU time too; both run for the same few seconds. A second pair of
rows times the store itself writing and reading a real file (hashing, type sniffing, fsync).

Units: MB is 10^6 bytes throughout (openssl prints 1000s of bytes per second).
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, cast

from cryptography.hazmat.backends.openssl.backend import backend as library_openssl
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from bench.report import Figure
from portal.attachments.store import CHUNK_SIZE, begin_attachment
from portal.crypto import DataKey, decrypt_stream, encrypt_stream, new_data_key
from portal.settings import AttachmentSettings

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer

    from bench.stack import Bench

GOAL_RATIO = 0.5
# How long each side runs, at most (a smoke run's scale asks for less).
MAX_SECONDS = 3
MB = 1_000_000
MIB = 1024 * 1024


@dataclass(frozen=True)
class Rate:
    """Bytes processed per second of CPU time and of wall-clock time."""

    cpu: float
    wall: float


class _Discard(io.RawIOBase):
    """A sink that keeps nothing, so only the encryption is timed."""

    def writable(self) -> bool:
        return True

    def write(self, data: ReadableBuffer) -> int:
        return memoryview(data).nbytes


def measure(bench: Bench) -> list[Figure]:
    size = bench.scale.crypto_mb * MIB
    seconds = max(1, int(min(MAX_SECONDS, bench.scale.seconds)))
    bench.progress(f"crypto: openssl speed -evp aes-256-gcm -bytes {CHUNK_SIZE}")
    openssl_encrypt = openssl_speed(seconds, decrypt=False)
    openssl_decrypt = openssl_speed(seconds, decrypt=True)
    bench.progress(f"crypto: streaming encryption over {bench.scale.crypto_mb} MiB in memory")
    encryption, decryption = _stream_rates(size, seconds)
    primitive = _primitive_rate(seconds)
    bench.progress("crypto: the document store writing and reading a real file")
    store_write, store_read = _store_rates(bench.directory / "crypto-speed", size)
    return [
        _ratio_figure("attachment encryption", encryption, openssl_encrypt),
        _ratio_figure("attachment decryption", decryption, openssl_decrypt),
        Figure(
            "AES-256-GCM in the product's library alone",
            f"{primitive / MB:,.0f} MB/s",
            note=(
                f"one {CHUNK_SIZE // 1024} KiB buffer, as openssl speed does; cryptography's "
                f"own {library_openssl.openssl_version_text()}"
            ),
        ),
        Figure(
            "attachment store: upload to file / read back",
            f"{store_write / MB:,.0f} / {store_read / MB:,.0f} MB/s",
            note="wall clock; + SHA-256, type sniffing, write and fsync; read from page cache",
        ),
    ]


def openssl_speed(seconds: int, *, decrypt: bool) -> float:
    """Bytes per second `openssl speed` reaches for AES-256-GCM on CHUNK_SIZE buffers."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise RuntimeError("openssl is not installed: the crypto figure is a ratio to it")
    command = [openssl, "speed", "-mr", "-seconds", str(seconds)]
    command += ["-bytes", str(CHUNK_SIZE), "-evp", "aes-256-gcm"]
    command += ["-decrypt"] if decrypt else []
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout  # noqa: S603
    return parse_openssl_speed(output)


def parse_openssl_speed(output: str) -> float:
    """The bytes per second in `openssl speed -mr` output: its `+F:` line's last field (the
    same figure the human-readable table shows divided by 1000, as "k")."""
    for line in output.splitlines():
        if line.startswith("+F:"):
            return float(line.rsplit(":", 1)[1])
    raise ValueError(f"no +F: line in openssl speed output: {output!r}")


def version_of_openssl() -> str:
    openssl = shutil.which("openssl") or "openssl"
    result = subprocess.run([openssl, "version"], capture_output=True, text=True, check=True)  # noqa: S603
    return " ".join(result.stdout.split()[:2])


def _stream_rates(size: int, seconds: float) -> tuple[Rate, Rate]:
    """encrypt_stream and decrypt_stream as the store calls them, over `size` random bytes."""
    plaintext = os.urandom(size)
    data_key = DataKey(id=uuid.uuid4(), key=new_data_key())
    file_id = uuid.uuid4()
    encrypted = io.BytesIO()
    encrypt_stream(data_key, file_id, io.BytesIO(plaintext), encrypted, CHUNK_SIZE)
    ciphertext = encrypted.getvalue()
    discard = cast(BinaryIO, _Discard())

    def encrypt() -> None:
        encrypt_stream(data_key, file_id, io.BytesIO(plaintext), discard, CHUNK_SIZE)

    def decrypt() -> None:
        for _ in decrypt_stream(data_key, file_id, io.BytesIO(ciphertext)):
            pass

    return _rate(encrypt, size, seconds), _rate(decrypt, size, seconds)


def _rate(work: Callable[[], None], size: int, seconds: float) -> Rate:
    """Repeat `work` (which handles `size` bytes) for about `seconds` of CPU time."""
    work()  # once untimed: first-touch page faults and allocator growth are not steady state
    passes, cpu, wall = 0, 0.0, 0.0
    while cpu < seconds:
        cpu_start, wall_start = time.process_time(), time.perf_counter()
        work()
        cpu += time.process_time() - cpu_start
        wall += time.perf_counter() - wall_start
        passes += 1
    return Rate(cpu=passes * size / cpu, wall=passes * size / wall)


def _primitive_rate(seconds: float) -> float:
    aead = AESGCM(AESGCM.generate_key(bit_length=256))
    chunk, nonce = os.urandom(CHUNK_SIZE), bytes(12)
    count = 1000

    def work() -> None:
        for _ in range(count):
            aead.encrypt(nonce, chunk, None)

    return _rate(work, count * CHUNK_SIZE, seconds).cpu


def _store_rates(directory: Path, size: int) -> tuple[float, float]:
    """The store's own upload (PendingAttachment.write then seal) and read-back, timed by
    wall clock as a person would wait for them."""
    settings = AttachmentSettings(storage_directory=directory, max_bytes=size, scanner="none")
    source = io.BytesIO(os.urandom(size))
    started = time.perf_counter()
    pending = begin_attachment(settings)
    try:
        while data := source.read(CHUNK_SIZE):
            pending.write(data)
        pending.seal()
        written = time.perf_counter()
        for _ in pending.plaintext():
            pass
        read = time.perf_counter()
    finally:
        pending.discard()
    return size / (written - started), size / (read - written)


def _ratio_figure(name: str, rate: Rate, openssl: float) -> Figure:
    ratio = rate.cpu / openssl
    return Figure(
        name,
        f"{rate.cpu / MB:,.0f} MB/s = {ratio:.2f} × openssl's {openssl / MB:,.0f} MB/s",
        goal=f"≥ {GOAL_RATIO:g} × openssl",
        met=ratio >= GOAL_RATIO,
        note=(
            f"{CHUNK_SIZE // 1024} KiB chunks, memory to discard, CPU time "
            f"(wall {rate.wall / MB:,.0f} MB/s); {version_of_openssl()}"
        ),
    )
