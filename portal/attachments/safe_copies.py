"""Each document's safe copy, kept encrypted beside its original (docs/attachments.md).

The disarm worker's output lives at `<storage_directory>/<attachment id>.safe.pdsf` in the
streaming format of `portal.crypto.streaming`, under the attachment's own data key (so
shredding that key shreds both files) but bound to a file id of its own, derived from the
attachment's id: the original copied over its safe copy (or the other way round) is refused
at its header. It is written as `<id>.safe.pdsf.partial`, made durable and then renamed, so a
worker stopped halfway leaves no half copy to serve.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

from portal.attachments.names import with_extension
from portal.attachments.store import (
    AttachmentUnavailable,
    _closing,
    _create_private_file,
    _unwrap,
)
from portal.crypto.keyring import Keyring
from portal.crypto.streaming import StreamEncryptor, decrypt_stream
from portal.models import Attachment, SafeCopyStatus
from portal.private_files import fsync_directory
from portal.settings import AttachmentSettings

CHUNK_SIZE = 64 * 1024
_SUFFIX = ".safe.pdsf"
_PARTIAL_SUFFIX = ".safe.pdsf.partial"
# The safe copy's file id: the attachment's id, hashed into a name-based UUID of its own.
_SAFE_COPY_NAMESPACE = uuid.UUID("7d0c3c64-3c55-4a0e-9a57-5a1f3f6f2a11")
# What a safe copy is (docs/disarm.md): a plain PDF, a re-encoded image, or UTF-8 text.
EXTENSIONS = {
    "application/pdf": ".pdf",
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "text/plain": ".txt",
}


def safe_copy_file_id(attachment_id: uuid.UUID) -> uuid.UUID:
    """The file id the safe copy is bound to: never the original's."""
    return uuid.uuid5(_SAFE_COPY_NAMESPACE, str(attachment_id))


def safe_copy_path(settings: AttachmentSettings, attachment_id: uuid.UUID) -> Path:
    return settings.storage_directory / f"{attachment_id}{_SUFFIX}"


def safe_copy_name(original_name: str, safe_content_type: str) -> str:
    """The safe copy's name: the sanitised original's stem with the safe copy's extension
    ("Report.docx" → "Report.pdf"), shortened by `clean_filename`'s rules so that the
    extension survives. A type with no known extension keeps the original's name."""
    extension = EXTENSIONS.get(safe_content_type)
    return original_name if extension is None else with_extension(original_name, extension)


def write_safe_copy(
    attachment: Attachment, content: bytes, *, keyring: Keyring, settings: AttachmentSettings
) -> None:
    """Encrypt `content` as the attachment's safe copy, durably, replacing any earlier one.
    DecryptionError when the attachment's data key is gone (shredded)."""
    data_key = _unwrap(keyring, attachment)
    partial = settings.storage_directory / f"{attachment.id}{_PARTIAL_SUFFIX}"
    partial.unlink(missing_ok=True)  # left by a worker that was stopped mid-write
    encryptor = StreamEncryptor(data_key, safe_copy_file_id(attachment.id), CHUNK_SIZE)
    try:
        with _create_private_file(partial) as sink:
            sink.write(encryptor.header())
            for start in range(0, len(content), CHUNK_SIZE):
                sink.write(encryptor.update(content[start : start + CHUNK_SIZE]))
            sink.write(encryptor.finalize())
            sink.flush()
            os.fsync(sink.fileno())
        final = safe_copy_path(settings, attachment.id)
        os.replace(partial, final)
        fsync_directory(final.parent)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def open_safe_copy(
    attachment: Attachment, *, keyring: Keyring, settings: AttachmentSettings
) -> Iterator[bytes]:
    """The safe copy's content in chunks, for a streamed download or a delivery. As with
    `open_attachment`, the key, file and header are checked now and truncation only at the
    end: a streamed response must be aborted on DecryptionError."""
    if attachment.safe_status != SafeCopyStatus.READY:
        raise AttachmentUnavailable(f"attachment {attachment.id} has no safe copy")
    data_key = _unwrap(keyring, attachment)
    try:
        source = safe_copy_path(settings, attachment.id).open("rb")
    except FileNotFoundError:
        raise AttachmentUnavailable(f"attachment {attachment.id} has no safe copy file") from None
    try:
        chunks = decrypt_stream(data_key, safe_copy_file_id(attachment.id), source)
    except BaseException:
        source.close()
        raise
    return _closing(chunks, source)


def delete_safe_copy(settings: AttachmentSettings, attachment_id: uuid.UUID) -> None:
    """Delete the safe copy's file, and a half-written one, if there are any."""
    safe_copy_path(settings, attachment_id).unlink(missing_ok=True)
    (settings.storage_directory / f"{attachment_id}{_PARTIAL_SUFFIX}").unlink(missing_ok=True)
