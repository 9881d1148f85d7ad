"""Malware scanning: ClamAV's clamd over its INSTREAM protocol, on a Unix socket or TCP.

Only clamd's own "stream: OK" is a clean verdict. Anything else (a signature found, an
encrypted file, clamd's size or scan limits, an error reply, garbage, silence past the deadline,
a refused or dropped connection) means the file is not accepted, never that it is clean.
"""

from __future__ import annotations

import logging
import socket
import struct
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from portal.settings import AttachmentSettings

logger = logging.getLogger(__name__)

CLEAN = "clean"
INFECTED = "infected"
NOT_SCANNED = "not_scanned"
SCANNER_UNAVAILABLE = "scanner_unavailable"
SCANNER_TIMEOUT = "scanner_timeout"
SCANNER_LIMIT = "scanner_limit"  # too large or complex for clamd's limits: will not change
SCANNER_ENCRYPTED = "scanner_encrypted"  # clamd cannot look inside: a password is the cause
SCANNER_ERROR = "scanner_error"

# clamd answers within this many bytes; more is not an answer.
_MAX_REPLY = 4096
# Pieces sent to clamd; each must stay under its StreamMaxLength on its own.
_MAX_PIECE = 256 * 1024
# With AlertExceedsMax, clamd names files it could not scan whole like this, and with
# AlertEncrypted those it could not look inside: not a virus, but not checked either.
_LIMIT_SIGNATURE = "Heuristics.Limits.Exceeded"
_ENCRYPTED_SIGNATURE = "Heuristics.Encrypted"


@dataclass(frozen=True)
class ScanVerdict:
    """`clean` only when a scanner looked at every byte and found nothing."""

    clean: bool
    reason: str
    signature: str | None = None  # the malware's name when infected


class Scanner(Protocol):
    def scan(self, chunks: Iterable[bytes]) -> ScanVerdict:
        """Scan the file given as consecutive chunks of its content."""


class NoScanner:
    """For `scanner = "none"` (demo and tests; production refuses it): files are accepted
    but recorded as not scanned, never as clean."""

    def scan(self, chunks: Iterable[bytes]) -> ScanVerdict:
        return ScanVerdict(clean=False, reason=NOT_SCANNED)


class ClamdScanner:
    """Streams a file to clamd with zINSTREAM: 4-byte big-endian lengths, then a zero length."""

    def __init__(
        self,
        *,
        socket_path: Path | None = None,
        host: str | None = None,
        port: int = 3310,
        timeout: float = 30.0,
    ) -> None:
        self._socket_path = socket_path
        self._host = host
        self._port = port
        self._timeout = timeout

    def scan(self, chunks: Iterable[bytes]) -> ScanVerdict:
        deadline = time.monotonic() + self._timeout
        try:
            with self._connect(deadline) as connection:
                reply = self._instream(connection, chunks, deadline)
        except TimeoutError:
            verdict = ScanVerdict(clean=False, reason=SCANNER_TIMEOUT)
        except OSError as error:
            logger.warning("clamd unavailable: %s", type(error).__name__)
            verdict = ScanVerdict(clean=False, reason=SCANNER_UNAVAILABLE)
        else:
            verdict = verdict_from_reply(reply)
        if not verdict.clean:
            logger.warning("scan verdict %s %s", verdict.reason, verdict.signature or "")
        return verdict

    def ping(self) -> bool:
        """Whether clamd answers PONG within the timeout."""
        return self._command(b"zPING\x00") == "PONG"

    def version(self) -> str | None:
        """clamd's engine, for example "ClamAV 1.4.6" (without its signatures' version, which
        changes daily); None when it does not answer."""
        reply = self._command(b"zVERSION\x00")
        return reply.split("/", 1)[0].strip() if reply else None

    def _command(self, command: bytes) -> str | None:
        """A one-line command's NUL-terminated reply; None when clamd does not give one."""
        deadline = time.monotonic() + self._timeout
        try:
            with self._connect(deadline) as connection:
                _send(connection, command, deadline)
                reply = _receive_reply(connection, deadline)
        except OSError:
            return None
        if not reply.endswith(b"\x00"):
            return None
        return reply[:-1].decode("utf-8", errors="replace")

    def _connect(self, deadline: float) -> socket.socket:
        if self._socket_path is not None:
            connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                connection.settimeout(_remaining(deadline))
                connection.connect(str(self._socket_path))
            except BaseException:
                connection.close()
                raise
            return connection
        if self._host is not None:
            return socket.create_connection((self._host, self._port), _remaining(deadline))
        raise ConnectionRefusedError("no clamd_socket or clamd_host is configured")

    def _instream(
        self, connection: socket.socket, chunks: Iterable[bytes], deadline: float
    ) -> bytes:
        _send(connection, b"zINSTREAM\x00", deadline)
        try:
            for chunk in chunks:
                for start in range(0, len(chunk), _MAX_PIECE):
                    piece = chunk[start : start + _MAX_PIECE]
                    _send(connection, struct.pack(">I", len(piece)), deadline)
                    _send(connection, piece, deadline)
            _send(connection, b"\x00\x00\x00\x00", deadline)
        except (BrokenPipeError, ConnectionResetError):
            # clamd stops reading when a limit is reached and says why before closing.
            pass
        return _receive_reply(connection, deadline)


def verdict_from_reply(reply: bytes) -> ScanVerdict:
    """Read clamd's answer to zINSTREAM (NUL-terminated); only "stream: OK" is clean."""
    if not reply.endswith(b"\x00"):
        return ScanVerdict(clean=False, reason=SCANNER_ERROR)
    text = reply[:-1].decode("utf-8", errors="replace").strip()
    if text == "stream: OK":
        return ScanVerdict(clean=True, reason=CLEAN)
    if text.startswith("stream: ") and text.endswith(" FOUND"):
        signature = text.removeprefix("stream: ").removesuffix(" FOUND").strip()
        if signature.startswith(_LIMIT_SIGNATURE):
            return ScanVerdict(clean=False, reason=SCANNER_LIMIT, signature=signature)
        if signature.startswith(_ENCRYPTED_SIGNATURE):
            return ScanVerdict(clean=False, reason=SCANNER_ENCRYPTED, signature=signature)
        return ScanVerdict(clean=False, reason=INFECTED, signature=signature)
    if "size limit exceeded" in text.lower():
        return ScanVerdict(clean=False, reason=SCANNER_LIMIT)
    return ScanVerdict(clean=False, reason=SCANNER_ERROR)


def scanner_for(settings: AttachmentSettings) -> Scanner:
    if settings.scanner == "none":
        return NoScanner()
    return ClamdScanner(
        socket_path=settings.clamd_socket,
        host=settings.clamd_host,
        port=settings.clamd_port,
        timeout=settings.scan_timeout_seconds,
    )


def _remaining(deadline: float) -> float:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TimeoutError("the scan deadline has passed")
    return remaining


def _send(connection: socket.socket, data: bytes, deadline: float) -> None:
    connection.settimeout(_remaining(deadline))
    connection.sendall(data)


def _receive_reply(connection: socket.socket, deadline: float) -> bytes:
    reply = bytearray()
    while not reply.endswith(b"\x00") and len(reply) < _MAX_REPLY:
        connection.settimeout(_remaining(deadline))
        data = connection.recv(_MAX_REPLY - len(reply))
        if not data:
            break
        reply += data
    return bytes(reply)
