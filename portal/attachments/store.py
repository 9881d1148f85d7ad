"""The encrypted file store: an upload is hashed, sniffed, inspected and encrypted chunk by
chunk as it arrives, then scanned from its encrypted copy; only an accepted file gets a row.

A file lives at `<storage_directory>/<attachment id>.pdsf` in the streaming format of
`portal.crypto.streaming`, bound to the attachment's id and encrypted under the attachment's
own data key. While it is being received it is `<id>.pdsf.partial`; a refusal deletes it.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.attachments import refusals, scanning
from portal.attachments.inspection import ContainerInspector
from portal.attachments.names import clean_filename as clean_filename
from portal.attachments.scanning import Scanner
from portal.attachments.sniffing import TypeSniffer
from portal.crypto.envelope import DataKey, data_key_context
from portal.crypto.errors import DecryptionError
from portal.crypto.keyring import Keyring, WrappedKey, new_data_key
from portal.crypto.records import RecordCipher
from portal.crypto.streaming import StreamEncryptor, decrypt_stream
from portal.models import Attachment, Contribution
from portal.models.contributions import ScanStatus
from portal.models.keys import DataKey as DataKeyRow
from portal.private_files import fsync_directory
from portal.settings import AttachmentSettings

logger = logging.getLogger(__name__)

CHUNK_SIZE = 64 * 1024
_SUFFIX = ".pdsf"
_PARTIAL_SUFFIX = ".pdsf.partial"
_UNCOMMITTED_FILES = "portal.attachments.uncommitted_files"


class AttachmentUnavailable(LookupError):
    """The attachment cannot be served: its file is missing, or it was refused."""


class PendingAttachment:
    """One upload on its way in. `write` hashes, sniffs, inspects and encrypts each piece to a
    private partial file; nothing reaches the database until `finish_attachment` accepts it."""

    def __init__(self, settings: AttachmentSettings) -> None:
        self.id = uuid.uuid4()
        self.settings = settings
        self.size_bytes = 0
        self.path = partial_path(settings, self.id)
        # The attachment's own data key; wrapped into a data_keys row only on acceptance.
        self._data_key: DataKey | None = DataKey(id=uuid.uuid4(), key=new_data_key())
        self._digest = hashlib.sha256()
        self._sniffer = TypeSniffer()
        self._inspector = ContainerInspector(settings)
        self._encryptor = StreamEncryptor(self._data_key, self.id, CHUNK_SIZE)
        self._file: BinaryIO | None = None
        with self.failing_safely():
            self._file = _create_private_file(self.path)
            self._file.write(self._encryptor.header())

    def write(self, data: bytes) -> None:
        if self._file is None:
            raise ValueError("this upload is no longer being received")
        if self.size_bytes + len(data) > self.settings.max_bytes:
            self.discard()
            raise refusals.too_large(self.settings.max_bytes)
        self.size_bytes += len(data)
        self._digest.update(data)
        self._sniffer.feed(data)
        self._inspector.feed(data)
        with self.failing_safely():
            self._file.write(self._encryptor.update(data))

    def discard(self) -> None:
        """Forget the upload: close and delete the partial file. Safe to call more than once."""
        if self._file is not None:
            file, self._file = self._file, None
            # Closing flushes what is buffered, which a full store refuses again; the
            # descriptor is closed all the same, and the file deleted below.
            with contextlib.suppress(OSError):
                file.close()
        try:
            self.path.unlink(missing_ok=True)
        except OSError as error:
            logger.error("could not delete a refused upload's partial file: %s", _code(error))
        self._data_key = None

    @contextlib.contextmanager
    def failing_safely(self) -> Iterator[None]:
        """The store itself failing (full, read-only, its directory missing) discards what
        was written and becomes a refusal the person is told about, and an error for the
        operators' log: never a 500, never a partial file left behind."""
        try:
            yield
        except OSError as error:
            self.discard()
            logger.error(
                "the document store %s could not save an upload: %s",
                self.settings.storage_directory,
                _code(error),
            )
            raise refusals.not_saved() from None

    def seal(self) -> None:
        """Write the final chunk and make the bytes durable before anything refers to them."""
        if self._file is None:
            raise ValueError("this upload is no longer being received")
        with self.failing_safely():
            self._file.write(self._encryptor.finalize())
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            self._file = None

    @property
    def sha256(self) -> bytes:
        return self._digest.digest()

    @property
    def media_type(self) -> str | None:
        return self._sniffer.media_type()

    def inspect(self) -> None:
        """The inspection's verdict on the whole file: raises UploadRefused."""
        self._inspector.verdict()

    @property
    def data_key(self) -> DataKey:
        if self._data_key is None:
            raise ValueError("this upload was finished or discarded")
        return self._data_key

    def plaintext(self) -> Iterator[bytes]:
        """The sealed file decrypted again, chunk by chunk: what the scanner reads."""
        with self.path.open("rb") as source:
            yield from decrypt_stream(self.data_key, self.id, source)

    def forget_key(self) -> None:
        self._data_key = None


def begin_attachment(settings: AttachmentSettings) -> PendingAttachment:
    """Start receiving a file; pass it to `finish_attachment`, or `discard()` it."""
    return PendingAttachment(settings)


def finish_attachment(
    pending: PendingAttachment,
    *,
    filename: str,
    answer_key: str,
    contribution: Contribution,
    uploader_id: uuid.UUID,
    session: Session,
    cipher: RecordCipher,
    keyring: Keyring,
    scanner: Scanner,
) -> Attachment:
    """Check and scan a received file, then add and flush its row; or refuse it, keeping
    nothing (no file, no row, no data key). Raises UploadRefused."""
    try:
        pending.seal()
        content_type, verdict = _check(pending, scanner)
        final = _publish(pending)
    except BaseException:
        pending.discard()
        raise
    attachment = Attachment(
        id=pending.id,
        answer_key=answer_key,
        content_type=content_type,
        size_bytes=pending.size_bytes,
        sha256=pending.sha256,
        scan_status=ScanStatus.CLEAN if verdict.clean else ScanStatus.PENDING,
        uploaded_by_id=uploader_id,
    )
    try:
        attachment.data_key = _data_key_row(keyring, pending)
        cipher.seal_text(attachment, "filename_enc", clean_filename(filename))
        attachment.contribution = contribution
        session.add(attachment)
        session.flush()
    except BaseException:
        final.unlink(missing_ok=True)
        raise
    finally:
        pending.forget_key()
    _delete_file_if_rolled_back(session, attachment, final)
    return attachment


def store_upload(
    stream: BinaryIO,
    *,
    filename: str,
    answer_key: str,
    contribution: Contribution,
    uploader_id: uuid.UUID,
    session: Session,
    cipher: RecordCipher,
    keyring: Keyring,
    settings: AttachmentSettings,
    scanner: Scanner,
) -> Attachment:
    """Store a file read from `stream` in 64 KiB pieces. Raises UploadRefused."""
    pending = begin_attachment(settings)
    try:
        while data := stream.read(CHUNK_SIZE):
            pending.write(data)
    except BaseException:
        pending.discard()
        raise
    return finish_attachment(
        pending,
        filename=filename,
        answer_key=answer_key,
        contribution=contribution,
        uploader_id=uploader_id,
        session=session,
        cipher=cipher,
        keyring=keyring,
        scanner=scanner,
    )


def open_attachment(
    attachment: Attachment, *, keyring: Keyring, settings: AttachmentSettings
) -> Iterator[bytes]:
    """The attachment's content in chunks, for a streamed download.

    The key, the file and the header are checked now, so a missing or foreign file fails
    before a response starts. Later chunks are authenticated one by one, but truncation is
    only known at the end: a streamed response must be aborted on DecryptionError.
    """
    if attachment.scan_status == ScanStatus.REFUSED:
        raise AttachmentUnavailable(f"attachment {attachment.id} was refused")
    data_key = _unwrap(keyring, attachment)
    path = stored_path(settings, attachment.id)
    try:
        source = path.open("rb")
    except FileNotFoundError:
        raise AttachmentUnavailable(f"attachment {attachment.id} has no stored file") from None
    try:
        chunks = decrypt_stream(data_key, attachment.id, source)
    except BaseException:
        source.close()
        raise
    return _closing(chunks, source)


def delete_attachment_file(attachment: Attachment, *, settings: AttachmentSettings) -> None:
    """Delete the encrypted file and its safe copy (the caller deletes or shreds the row in
    its transaction)."""
    from portal.attachments.safe_copies import delete_safe_copy  # it builds on this module

    stored_path(settings, attachment.id).unlink(missing_ok=True)
    delete_safe_copy(settings, attachment.id)


def stored_path(settings: AttachmentSettings, attachment_id: uuid.UUID) -> Path:
    return settings.storage_directory / f"{attachment_id}{_SUFFIX}"


def partial_path(settings: AttachmentSettings, attachment_id: uuid.UUID) -> Path:
    return settings.storage_directory / f"{attachment_id}{_PARTIAL_SUFFIX}"


def _check(pending: PendingAttachment, scanner: Scanner) -> tuple[str, scanning.ScanVerdict]:
    allowed = pending.settings.allowed_types
    if pending.size_bytes == 0:
        raise refusals.empty()
    # Before the type check, so that a document the inspection refuses is told why (a .docx
    # with something put in front of it no longer looks like a .docx, only like a ZIP).
    pending.inspect()
    content_type = pending.media_type
    if content_type is None or content_type not in allowed:
        raise refusals.wrong_type(allowed)
    verdict = scanner.scan(pending.plaintext())
    if verdict.reason == scanning.INFECTED:
        raise refusals.infected()
    if verdict.reason == scanning.SCANNER_ENCRYPTED:  # a password-protected PDF, say
        raise refusals.inspected(refusals.ENCRYPTED)  # told as the inspection tells it
    if verdict.reason == scanning.SCANNER_LIMIT:  # trying again will not help
        raise refusals.too_complex_to_scan()
    if not verdict.clean and verdict.reason != scanning.NOT_SCANNED:
        raise refusals.not_checked()
    return content_type, verdict


def _publish(pending: PendingAttachment) -> Path:
    final = stored_path(pending.settings, pending.id)
    with pending.failing_safely():
        try:
            os.replace(pending.path, final)
            fsync_directory(final.parent)
        except OSError:
            final.unlink(missing_ok=True)
            raise
    return final


def _data_key_row(keyring: Keyring, pending: PendingAttachment) -> DataKeyRow:
    key = pending.data_key
    wrapped = keyring.wrap(key.key, data_key_context(key.id))
    return DataKeyRow(id=key.id, kek_version=wrapped.kek_version, wrapped_key=wrapped.blob)


def _unwrap(keyring: Keyring, attachment: Attachment) -> DataKey:
    row = attachment.data_key
    if row is None:
        raise DecryptionError("this attachments record has no data key")
    if row.wrapped_key is None:
        raise DecryptionError("the data key of this attachments record was shredded")
    wrapped = WrappedKey(kek_version=row.kek_version, blob=row.wrapped_key)
    return DataKey(id=row.id, key=keyring.unwrap(wrapped, data_key_context(row.id)))


def _delete_file_if_rolled_back(session: Session, attachment: Attachment, path: Path) -> None:
    """The row may still be rolled back with the caller's transaction: the file goes with it.

    Files of rows not yet committed are listed in the session; a commit forgets them, and a
    rollback deletes those whose row it undid (the row is then transient again).
    """
    pending: list[tuple[Attachment, Path]] | None = session.info.get(_UNCOMMITTED_FILES)
    if pending is None:
        pending = session.info[_UNCOMMITTED_FILES] = []
        sa.event.listen(session, "after_commit", _forget_committed_files)
        sa.event.listen(session, "after_soft_rollback", _delete_rolled_back_files)
    pending.append((attachment, path))


def _forget_committed_files(session: Session) -> None:
    session.info[_UNCOMMITTED_FILES].clear()


def _delete_rolled_back_files(session: Session, _previous: object) -> None:
    pending: list[tuple[Attachment, Path]] = session.info[_UNCOMMITTED_FILES]
    for attachment, path in list(pending):
        if sa.inspect(attachment).transient:
            path.unlink(missing_ok=True)
            pending.remove((attachment, path))


def _closing(chunks: Iterator[bytes], source: BinaryIO) -> Iterator[bytes]:
    with source:
        yield from chunks


def _create_private_file(path: Path) -> BinaryIO:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    return os.fdopen(descriptor, "wb")


def _code(error: OSError) -> str:
    """ENOSPC, EROFS...: what went wrong, without the message's path."""
    return errno.errorcode.get(error.errno or 0, type(error).__name__)
