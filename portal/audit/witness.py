"""The two witnesses of the audit log's checkpoints that live outside its database.

Someone who owns the database can rewrite it whole, signed checkpoints included, if they also
hold the signing key; they cannot quietly rewrite what was handed to others. So each
checkpoint is also written to an append-only directory (another volume in production: the
CloudTrail idea of digest files kept apart from the log) and time-stamped by an RFC 3161
time-stamping authority chosen by the council, whose token proves the note existed then.

Writing never overwrites: a second, different note for a tree size is a conflict, an alarm.
A witness that cannot be reached says so (WitnessUnavailable) and the checkpoint waits.

The TSA client is rfc3161-client (Trail of Bits, the one sigstore-python uses): it builds the
request and checks the token's CMS signature and certificate chain with `cryptography`.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import requests
from cryptography import x509
from rfc3161_client import (
    HashAlgorithm,
    PKIStatus,
    TimestampRequestBuilder,
    TimeStampResponse,
    VerificationError,
    VerifierBuilder,
    decode_timestamp_response,
)


class WitnessUnavailable(Exception):
    """The witness could not be reached or written: the checkpoint waits and is tried again."""


class WitnessConflict(Exception):
    """The witness holds something other than what the database says: an alarm, never
    something to repair by overwriting."""


class TimestampInvalid(Exception):
    """A time-stamp token that does not prove what it is offered for; says why."""


_NOTE_NAME = re.compile(r"([0-9]{20})\.note")
_SHA256 = x509.ObjectIdentifier("2.16.840.1.101.3.4.2.1")


class CheckpointStore:
    """Signed checkpoints as files `checkpoints/<tree size, 20 digits>.note` in `directory`.

    The directory itself must already exist (a mounted volume): a missing one is a witness
    that is unavailable, never one to create on whatever disk lies beneath. A note is written
    whole to a file of its own in `incoming/`, fsynced, then hard-linked to its name in
    `checkpoints/` (a link never replaces an existing name), and the directory fsynced before
    `put` returns: a note appears complete or not at all, and nothing here renames, truncates
    or deletes a kept note. A writer that dies mid-write leaves only a file in `incoming/`.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.checkpoints = directory / "checkpoints"
        self.incoming = directory / "incoming"

    def path(self, size: int) -> Path:
        if size < 0:
            raise ValueError("a tree size is never negative")
        return self.checkpoints / f"{size:020d}.note"

    def put(self, size: int, note: str) -> None:
        """Keep `note` for `size`. The same note again does nothing; another note for a size
        already kept raises WitnessConflict and leaves the kept one as it was."""
        data = note.encode("utf-8")
        path = self.path(size)
        try:
            self._make_directories()
            if _link_whole_file(self.incoming, path, data):
                _fsync_directory(self.checkpoints)
                return
            kept = path.read_bytes()
        except OSError as error:
            raise WitnessUnavailable(f"Cannot write {path}: {error.strerror or error}.") from None
        if kept != data:
            raise WitnessConflict(f"{path} already holds a different checkpoint for size {size}.")

    def get(self, size: int) -> str | None:
        """The note kept for `size`, or None. Bytes that are not UTF-8 come back as
        surrogate escapes, so that reading the note (portal.audit.note) refuses it with its
        reason instead of the store hiding it."""
        try:
            data = self.path(size).read_bytes()
        except FileNotFoundError:
            return None
        except OSError as error:
            raise WitnessUnavailable(f"Cannot read {self.path(size)}: {error.strerror}.") from None
        return data.decode("utf-8", errors="surrogateescape")

    def sizes(self) -> list[int]:
        """The tree sizes kept, smallest first. Raises WitnessConflict when the directory holds
        anything that is not a note file: nothing else belongs there and nothing is skipped."""
        try:
            if not self.directory.is_dir():
                raise WitnessUnavailable(f"The witness directory {self.directory} is missing.")
            names = os.listdir(self.checkpoints) if self.checkpoints.exists() else []
        except OSError as error:
            raise WitnessUnavailable(f"Cannot list {self.checkpoints}: {error.strerror}.") from None
        strays = sorted(name for name in names if not _NOTE_NAME.fullmatch(name))
        if strays:
            raise WitnessConflict(
                f"{self.checkpoints} holds files that are not checkpoints: " + ", ".join(strays)
            )
        return sorted(int(name[:20]) for name in names)

    def notes(self) -> Iterator[tuple[int, str]]:
        """Every kept (size, note), smallest size first; raises as `sizes` does."""
        for size in self.sizes():
            note = self.get(size)
            if note is None:
                raise WitnessUnavailable(f"{self.path(size)} went away while being read.")
            yield size, note

    def _make_directories(self) -> None:
        if not self.directory.is_dir():
            raise FileNotFoundError(2, "the witness directory is missing")
        for directory in (self.checkpoints, self.incoming):
            if not directory.is_dir():
                directory.mkdir(mode=0o750, exist_ok=True)
                _fsync_directory(self.directory)


def _link_whole_file(incoming: Path, path: Path, data: bytes) -> bool:
    """Write `data` whole to a new file in `incoming`, fsync it, and link it to `path`;
    False when `path` exists already. The file in `incoming` is removed either way."""
    descriptor, temporary = tempfile.mkstemp(dir=incoming, suffix=".partial")
    try:
        os.fchmod(descriptor, 0o640)
        view = memoryview(data)
        while view:
            view = view[os.write(descriptor, view) :]
        os.fsync(descriptor)
        os.close(descriptor)
        descriptor = -1
        try:
            os.link(temporary, path)
        except FileExistsError:
            return False
        return True
    finally:
        if descriptor != -1:
            os.close(descriptor)
        os.unlink(temporary)


def _fsync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


class TimestampAuthority:
    """An RFC 3161 time-stamping authority reached over HTTP(S), trusted through its roots."""

    def __init__(self, url: str, trust_roots_pem: bytes, timeout: float = 5.0) -> None:
        self.url = url
        self.trust_roots_pem = trust_roots_pem
        self.timeout = timeout
        _roots(trust_roots_pem)  # refuse a file that holds no certificate at start-up

    def stamp(self, data: bytes) -> bytes:
        """A time-stamp token (TimeStampToken, DER) over SHA-256 of `data`, checked before it
        is returned: granted, our nonce, our imprint, signed by a certificate chained to the
        trusted roots. Anything else is WitnessUnavailable: the checkpoint waits."""
        request = (
            TimestampRequestBuilder()
            .data(data)
            .hash_algorithm(HashAlgorithm.SHA256)
            .nonce(nonce=True)
            .cert_request(cert_request=True)
            .build()
        )
        answer = self._post(request.as_bytes())
        try:
            response = decode_timestamp_response(answer)
        except ValueError:
            raise WitnessUnavailable(
                f"The TSA at {self.url} answered something unreadable."
            ) from None
        if PKIStatus(response.status) != PKIStatus.GRANTED:
            raise WitnessUnavailable(
                f"The TSA at {self.url} did not grant a time-stamp (status {response.status})."
            )
        try:
            _verify(response, data, self.trust_roots_pem, request.nonce)
        except TimestampInvalid as error:
            raise WitnessUnavailable(f"The TSA at {self.url} gave a bad token: {error}") from None
        return response.time_stamp_token()

    def _post(self, body: bytes) -> bytes:
        """The TSA's answer, read a chunk at a time up to MAX_ANSWER_BYTES within an overall
        deadline of `timeout` seconds, never following a redirect: a hostile or broken TSA
        can neither exhaust the sequencer's memory nor hold it for ever."""
        deadline = time.monotonic() + self.timeout
        try:
            with requests.post(
                self.url,
                data=body,
                headers={"Content-Type": "application/timestamp-query"},
                timeout=self.timeout,
                allow_redirects=False,
                stream=True,
            ) as answer:
                if answer.status_code != 200:
                    raise WitnessUnavailable(
                        f"The TSA at {self.url} answered HTTP {answer.status_code}."
                    )
                return _read_capped(answer, deadline, self.url)
        except requests.RequestException as error:
            raise WitnessUnavailable(
                f"The TSA at {self.url} could not be reached: {error}"
            ) from None


# A time-stamp reply with its certificates is a few kilobytes.
MAX_ANSWER_BYTES = 64 * 1024


def _read_capped(answer: requests.Response, deadline: float, url: str) -> bytes:
    received = bytearray()
    for chunk in answer.iter_content(chunk_size=8192):
        received += chunk
        if len(received) > MAX_ANSWER_BYTES:
            raise WitnessUnavailable(f"The TSA at {url} sent more than {MAX_ANSWER_BYTES} bytes.")
        if time.monotonic() > deadline:
            raise WitnessUnavailable(f"The TSA at {url} took too long to answer.")
    return bytes(received)


def check_timestamp(token: bytes, data: bytes, trust_roots_pem: bytes) -> datetime:
    """When the TSA saw `data`: checks that `token` is signed by a time-stamping certificate
    chained to the roots and that its imprint is SHA-256 of `data`; returns its genTime."""
    try:
        response = decode_timestamp_response(granted_response(token))
    except ValueError:
        raise TimestampInvalid("The token is not a readable RFC 3161 time-stamp token.") from None
    _verify(response, data, trust_roots_pem, None)
    moment = response.tst_info.gen_time
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _verify(response: TimeStampResponse, data: bytes, roots_pem: bytes, nonce: int | None) -> None:
    builder = VerifierBuilder(roots=_roots(roots_pem), nonce=nonce)
    try:  # rfc3161-client parses the token's parts when they are first asked for
        imprint = response.tst_info.message_imprint
        algorithm, message = imprint.hash_algorithm, imprint.message
    except ValueError:
        raise TimestampInvalid("The token is not a readable RFC 3161 time-stamp token.") from None
    if algorithm != _SHA256 or message != hashlib.sha256(data).digest():
        raise TimestampInvalid("The token is over other data (or not over SHA-256 of it).")
    try:
        builder.build().verify(response, message)
    except (VerificationError, ValueError) as error:
        raise TimestampInvalid(f"The token does not verify: {error}") from None


def _roots(pem: bytes) -> list[x509.Certificate]:
    try:
        roots = x509.load_pem_x509_certificates(pem)
    except ValueError:
        raise TimestampInvalid("The TSA trust roots are not PEM certificates.") from None
    return roots


def granted_response(token: bytes) -> bytes:
    """A TimeStampResp around a kept token (status granted), the shape rfc3161-client
    verifies: SEQUENCE { PKIStatusInfo SEQUENCE { INTEGER 0 }, token }."""
    content = bytes.fromhex("3003020100") + token
    return b"\x30" + _der_length(len(content)) + content


def _der_length(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    encoded = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(encoded)]) + encoded
