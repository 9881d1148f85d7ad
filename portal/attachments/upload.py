"""Where Flask meets an upload: the multipart body is read from the request stream here, and
the file's bytes go straight into an encrypting sink, never into a temporary file.

Werkzeug's own form parsing (`request.form`, `request.files`) spools any file over 500 KB to
an unencrypted temporary file, so an upload route must never touch them: it is exempt from
CSRFProtect (which reads `request.form`), and `read_upload` checks the CSRF token itself.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from flask import Request, current_app
from flask_wtf.csrf import CSRFError, same_origin, validate_csrf
from sqlalchemy.orm import Session
from werkzeug.exceptions import BadRequest, RequestEntityTooLarge
from werkzeug.sansio.multipart import Data, Epilogue, Field, File, MultipartDecoder, NeedData
from wtforms import ValidationError

from portal.attachments import refusals
from portal.attachments.scanning import Scanner
from portal.attachments.store import CHUNK_SIZE, begin_attachment, finish_attachment
from portal.crypto.keyring import Keyring
from portal.crypto.records import RecordCipher
from portal.models import Attachment, Contribution
from portal.settings import AttachmentSettings

# Room in a request for the multipart framing and the other fields around the file.
FORM_OVERHEAD_BYTES = 64 * 1024
# The other fields together (the CSRF token, a button's value...) are small.
MAX_FIELD_BYTES = 16 * 1024
MAX_PARTS = 16


class UploadSink(Protocol):
    def write(self, data: bytes) -> None: ...

    def discard(self) -> None: ...


SinkT = TypeVar("SinkT", bound=UploadSink)


@dataclass(frozen=True)
class UploadResult(Generic[SinkT]):
    filename: str  # as the browser sent it: untrusted, for display only
    size_bytes: int
    sink: SinkT


def upload_size_limit(max_bytes: int) -> int:
    """The request body limit for an upload of at most `max_bytes`."""
    return max_bytes + FORM_OVERHEAD_BYTES


def read_upload(
    request: Request,
    *,
    field_name: str,
    sink_factory: Callable[[str], SinkT],
    max_bytes: int,
) -> tuple[dict[str, str], UploadResult[SinkT]]:
    """Read a multipart/form-data body, passing the file in `field_name` to a sink made by
    `sink_factory(filename)` and returning the other fields.

    Sets the request's own body limit (`upload_size_limit`), refuses a file over `max_bytes`
    as soon as it gets there, and checks the CSRF token (unless WTF_CSRF_ENABLED is off). On
    any refusal or error the sink is discarded. Raises UploadRefused, or a 400/413 error for
    a body that is not a well-formed upload.
    """
    if "form" in request.__dict__ or "stream" in request.__dict__:
        raise RuntimeError(
            "the request body was read before read_upload: exempt the route from CSRFProtect "
            "and do not touch request.form, request.files or request.stream"
        )
    boundary = request.mimetype_params.get("boundary", "")
    if request.mimetype != "multipart/form-data" or not boundary:
        raise BadRequest("an upload is sent as multipart/form-data")
    limit = upload_size_limit(max_bytes)
    if request.content_length is not None and request.content_length > limit:
        raise refusals.too_large(max_bytes)
    request.max_content_length = limit
    reader = _MultipartReader(
        boundary.encode("latin-1"),
        field_name,
        sink_factory,
        max_bytes,
        # A token sent before the file is checked before a byte of the file is stored.
        before_file=lambda fields: _check_csrf(request, fields, early=True),
    )
    try:
        reader.read(request)
        fields, upload = reader.fields, reader.result()
        _check_csrf(request, fields, early=False)
    except refusals.UploadRefused as refused:
        reader.discard()
        if refused.reason in (refusals.TOO_LARGE, refusals.NOT_SAVED):
            _drain(request)  # so the browser reads the answer instead of a reset connection
        raise
    except BaseException:
        reader.discard()
        raise
    return fields, upload


def receive_attachment(
    request: Request,
    *,
    answer_key: str,
    contribution: Contribution,
    uploader_id: uuid.UUID,
    session: Session,
    cipher: RecordCipher,
    keyring: Keyring,
    settings: AttachmentSettings,
    scanner: Scanner,
    field_name: str = "file",
) -> tuple[dict[str, str], Attachment]:
    """The whole upload in one call: read the body, store, check and scan the file, and add its
    row. Returns the other form fields and the flushed Attachment. Raises UploadRefused."""
    fields, upload = read_upload(
        request,
        field_name=field_name,
        sink_factory=lambda _filename: begin_attachment(settings),
        max_bytes=settings.max_bytes,
    )
    attachment = finish_attachment(
        upload.sink,
        filename=upload.filename,
        answer_key=answer_key,
        contribution=contribution,
        uploader_id=uploader_id,
        session=session,
        cipher=cipher,
        keyring=keyring,
        scanner=scanner,
    )
    return fields, attachment


class _MultipartReader(Generic[SinkT]):
    """Feeds the body to werkzeug's sans-IO decoder and routes each part's data as it comes."""

    def __init__(
        self,
        boundary: bytes,
        field_name: str,
        sink_factory: Callable[[str], SinkT],
        max_bytes: int,
        before_file: Callable[[dict[str, str]], None],
    ) -> None:
        # The decoder buffers at most one read and a boundary's worth more: anything larger
        # is a part header or preamble that never ends.
        self._decoder = MultipartDecoder(
            boundary, max_form_memory_size=4 * CHUNK_SIZE, max_parts=MAX_PARTS
        )
        self._before_file = before_file
        self._field_name = field_name
        self._sink_factory = sink_factory
        self._max_bytes = max_bytes
        self.fields: dict[str, str] = {}
        self._field: tuple[str, bytearray] | None = None  # the plain field being read
        self._field_bytes = 0
        self._sink: SinkT | None = None
        self._filename = ""
        self._size = 0
        self._in_file = False
        self._complete = False

    def read(self, request: Request) -> None:
        stream = request.stream
        while not self._complete:
            try:
                data = stream.read(CHUNK_SIZE)
            except RequestEntityTooLarge:
                raise refusals.too_large(self._max_bytes) from None
            self._decoder.receive_data(data or None)
            try:
                self._drain_events()
            except ValueError:
                raise BadRequest("the upload is not well-formed multipart/form-data") from None

    def result(self) -> UploadResult[SinkT]:
        if self._sink is None:
            raise refusals.missing()
        return UploadResult(filename=self._filename, size_bytes=self._size, sink=self._sink)

    def discard(self) -> None:
        if self._sink is not None:
            self._sink.discard()

    def _drain_events(self) -> None:
        while True:
            event = self._decoder.next_event()
            if isinstance(event, NeedData):
                return
            if isinstance(event, Epilogue):
                self._complete = True
                return
            if isinstance(event, File):
                self._start_file(event)
            elif isinstance(event, Field):
                self._field = (event.name, bytearray())
                self._in_file = False
            elif isinstance(event, Data):
                self._receive(event)

    def _start_file(self, event: File) -> None:
        self._field = None
        # A file input left empty is sent as a part with no filename and no content.
        self._in_file = event.name == self._field_name and bool(event.filename)
        if not self._in_file:
            return
        if self._sink is not None:
            raise BadRequest("send one file at a time")
        self._before_file(self.fields)
        self._filename = event.filename
        self._sink = self._sink_factory(event.filename)

    def _receive(self, event: Data) -> None:
        if self._in_file:
            assert self._sink is not None  # noqa: S101 - set by _start_file
            self._size += len(event.data)
            if self._size > self._max_bytes:
                raise refusals.too_large(self._max_bytes)
            self._sink.write(event.data)
            return
        # Everything that is not the file counts towards the small budget for fields.
        self._field_bytes += len(event.data)
        if self._field_bytes > MAX_FIELD_BYTES:
            raise RequestEntityTooLarge()
        if self._field is None:
            return  # another file input's content: not wanted, so dropped
        name, value = self._field
        value += event.data
        if not event.more_data:
            try:
                self.fields[name] = value.decode("utf-8")
            except UnicodeDecodeError:
                raise BadRequest("form fields are sent as UTF-8") from None
            self._field = None


def _check_csrf(request: Request, fields: dict[str, str], *, early: bool) -> None:
    """What CSRFProtect checks for other forms, on the fields read here. `early`: before the
    file, when the token may still be on its way (then only a token already sent is checked)."""
    config = current_app.config
    if not config.get("WTF_CSRF_ENABLED", True):
        return
    token = fields.get(config.get("WTF_CSRF_FIELD_NAME", "csrf_token"))
    for header in config.get("WTF_CSRF_HEADERS", []):
        token = token or request.headers.get(header)
    if early and not token:
        return
    try:
        validate_csrf(token)
    except ValidationError as error:
        raise CSRFError(error.args[0]) from None
    if request.is_secure and config.get("WTF_CSRF_SSL_STRICT", True):
        if not request.referrer:
            raise CSRFError("The referrer header is missing.")
        if not same_origin(request.referrer, f"https://{request.host}/"):
            raise CSRFError("The referrer does not match the host.")


def _drain(request: Request) -> None:
    """Read and drop what is left of the body, up to the request's limit."""
    try:
        while request.stream.read(CHUNK_SIZE):
            pass
    except (RequestEntityTooLarge, BadRequest, OSError):
        pass
