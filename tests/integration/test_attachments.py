"""Attachments: streamed in bounded memory, encrypted as they arrive, refused when too large,
of the wrong type, infected or not checkable (leaving nothing behind), scanned by a real clamd,
and uploaded through a real Flask request without a byte of plaintext in a temporary file."""

from __future__ import annotations

import hashlib
import io
import socket
import stat
import struct
import tempfile
import threading
import time
import tracemalloc
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
import werkzeug.formparser
from flask import Flask, request
from sqlalchemy.orm import Session

from portal import db
from portal.attachments import (
    AttachmentUnavailable,
    ClamdScanner,
    NoScanner,
    Scanner,
    UploadRefused,
    delete_attachment_file,
    open_attachment,
    receive_attachment,
    refusals,
    scanner_for,
    scanning,
    store_upload,
)
from portal.attachments.names import clean_filename
from portal.attachments.scanning import verdict_from_reply
from portal.attachments.store import stored_path
from portal.auth.policy import PUBLIC, access
from portal.config import ConfigError, load_settings
from portal.crypto import DecryptionError, FileKeyring, runtime
from portal.crypto.records import RecordCipher
from portal.extensions import csrf
from portal.models import Attachment, Contribution, DataKey, OrganisationKind, Role, User
from portal.models.contributions import ScanStatus
from portal.settings import AttachmentSettings
from tests.factories import csrf_token, make_case, make_organisation, make_request, make_user
from tests.support.clamd import SIGNATURE_NAME, Clamd, eicar

MIB = 1024 * 1024
MARKER = b"Zebra-7 told the nurse about the bruises"
LINE = b"Notes from the home visit. " + MARKER + b" on Tuesday.\n"
ANSWER_KEY = "supporting-documents"


# --- Fixtures -----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def small_clamd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Clamd]:
    """A clamd that takes at most 1 MB per stream: larger files get its size-limit error."""
    with Clamd(tmp_path_factory.mktemp("clamd-small"), stream_max_length="1M") as running:
        yield running


@pytest.fixture
def storage(tmp_path: Path) -> Path:
    return tmp_path / "files"


@pytest.fixture
def attachment_settings(storage: Path) -> AttachmentSettings:
    return AttachmentSettings(storage_directory=storage)


@dataclass
class Upload:
    """What storing needs besides the file: a draft contribution, its partner, a cipher."""

    session: Session
    keyring: FileKeyring
    cipher: RecordCipher
    contribution: Contribution
    partner: User

    def store(
        self,
        content: bytes | io.RawIOBase,
        *,
        settings: AttachmentSettings,
        scanner: Scanner,
        filename: str = "report.txt",
    ) -> Attachment:
        stream = io.BytesIO(content) if isinstance(content, bytes) else content
        return store_upload(
            stream,  # type: ignore[arg-type]
            filename=filename,
            answer_key=ANSWER_KEY,
            contribution=self.contribution,
            uploader_id=self.partner.id,
            session=self.session,
            cipher=self.cipher,
            keyring=self.keyring,
            settings=settings,
            scanner=scanner,
        )

    def attachment_rows(self) -> int:
        return (
            self.session.scalar(
                sa.select(sa.func.count())
                .select_from(Attachment)
                .where(Attachment.contribution_id == self.contribution.id)
            )
            or 0
        )

    def data_key_rows(self) -> int:
        return self.session.scalar(sa.select(sa.func.count()).select_from(DataKey)) or 0


@pytest.fixture
def upload(db_session: Session, keyring: FileKeyring) -> Upload:
    cipher = RecordCipher(keyring, db_session)
    case, _child = make_case(db_session, cipher, "Alex Example")
    worker = make_user(db_session, case.team.organisation, Role.SOCIAL_WORKER)
    school = make_organisation(db_session, OrganisationKind.SCHOOL)
    partner = make_user(db_session, school, Role.PARTNER_CONTRIBUTOR)
    delegation = make_request(db_session, cipher, case, school, worker)
    contribution = Contribution(request=delegation, version=1, created_by_id=partner.id)
    db_session.add(contribution)
    db_session.flush()
    return Upload(db_session, keyring, cipher, contribution, partner)


class GeneratedFile(io.RawIOBase):
    """`size` bytes of report text, made as they are read: the test keeps no copy of the file."""

    def __init__(self, size: int, head: bytes = b"") -> None:
        super().__init__()
        self.size = size
        self.head = head
        self.position = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        count = min(len(buffer), self.size - self.position)
        buffer[:count] = self._bytes(self.position, count)
        self.position += count
        return count

    def _bytes(self, offset: int, count: int) -> bytes:
        pieces = []
        if offset < len(self.head):
            pieces.append(self.head[offset : offset + count])
        start = max(offset, len(self.head))
        end = offset + count
        if end > start:
            relative = start - len(self.head)
            first = relative % len(LINE)
            repeats = (first + end - start) // len(LINE) + 1
            pieces.append((LINE * repeats)[first : first + end - start])
        return b"".join(pieces)


def file_contains(path: Path, needle: bytes) -> bool:
    overlap = b""
    with path.open("rb") as handle:
        while block := handle.read(MIB):
            if needle in overlap + block:
                return True
            overlap = block[-len(needle) :]
    return False


def nothing_left(upload: Upload, storage: Path, data_keys_before: int) -> None:
    assert upload.attachment_rows() == 0
    assert upload.data_key_rows() == data_keys_before
    assert not storage.exists() or list(storage.iterdir()) == []


# --- Storing and downloading --------------------------------------------------------------------


def test_a_large_file_round_trips_encrypted_in_bounded_memory(
    upload: Upload, attachment_settings: AttachmentSettings, storage: Path, clamd: Clamd
) -> None:
    size = 24 * MIB + 12345
    expected = hashlib.sha256()
    check = GeneratedFile(size)
    while block := check.read(MIB):
        expected.update(block)

    tracemalloc.start()
    try:
        attachment = upload.store(
            GeneratedFile(size),
            settings=attachment_settings,
            scanner=clamd.scanner(),
            filename="visit.txt",
        )
        _current, peak_storing = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert peak_storing < 2 * MIB, f"storing used {peak_storing} bytes for a {size}-byte file"
    assert attachment.size_bytes == size
    assert attachment.sha256 == expected.digest()
    assert attachment.content_type == "text/plain"
    assert attachment.scan_status == ScanStatus.CLEAN
    assert upload.cipher.open_text(attachment, "filename_enc") == "visit.txt"
    assert attachment.data_key_id is not None
    assert attachment.contribution_id == upload.contribution.id

    path = stored_path(attachment_settings, attachment.id)
    assert sorted(p.name for p in storage.iterdir()) == [path.name]
    assert path.stat().st_size > size
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(storage.stat().st_mode) == 0o700
    assert not file_contains(path, MARKER)
    assert not file_contains(path, b"Notes from the home visit")

    tracemalloc.start()
    try:
        downloaded = hashlib.sha256()
        for chunk in open_attachment(
            attachment, keyring=upload.keyring, settings=attachment_settings
        ):
            downloaded.update(chunk)
        _current, peak_reading = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert downloaded.digest() == expected.digest()
    assert peak_reading < MIB


def test_the_stored_file_is_bound_to_its_attachment(
    upload: Upload, attachment_settings: AttachmentSettings
) -> None:
    first = upload.store(LINE * 10, settings=attachment_settings, scanner=NoScanner())
    second = upload.store(LINE * 20, settings=attachment_settings, scanner=NoScanner())
    # Swap the files on disk: each is refused under the other's record.
    first_path, second_path = (
        stored_path(attachment_settings, first.id),
        stored_path(attachment_settings, second.id),
    )
    first_bytes = first_path.read_bytes()
    first_path.write_bytes(second_path.read_bytes())
    with pytest.raises(DecryptionError):
        b"".join(open_attachment(first, keyring=upload.keyring, settings=attachment_settings))
    first_path.write_bytes(first_bytes[:-1])  # cut short
    with pytest.raises(DecryptionError):
        b"".join(open_attachment(first, keyring=upload.keyring, settings=attachment_settings))


def test_a_deleted_or_shredded_attachment_cannot_be_read(
    upload: Upload, attachment_settings: AttachmentSettings
) -> None:
    shredded = upload.store(LINE, settings=attachment_settings, scanner=NoScanner())
    assert shredded.data_key is not None
    shredded.data_key.wrapped_key = None
    with pytest.raises(DecryptionError, match="shredded"):
        open_attachment(shredded, keyring=upload.keyring, settings=attachment_settings)

    deleted = upload.store(LINE, settings=attachment_settings, scanner=NoScanner())
    delete_attachment_file(deleted, settings=attachment_settings)
    assert not stored_path(attachment_settings, deleted.id).exists()
    with pytest.raises(AttachmentUnavailable):
        open_attachment(deleted, keyring=upload.keyring, settings=attachment_settings)


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("Visit notes.pdf", "Visit notes.pdf"),
        ("C:\\Users\\teacher\\Desktop\\report.docx", "report.docx"),
        ("../../etc/passwd", "passwd"),
        ("invoice\u202efdp.exe", "invoicefdp.exe"),  # no right-to-left override tricks
        ("line\nbreak.txt", "linebreak.txt"),
        ("Zoe\u0308.txt", "Zo\u00eb.txt"),
        ("   ", "attachment"),
        ("a" * 300 + ".pdf", "a" * 251 + ".pdf"),  # test_long_file_names.py has more
    ],
)
def test_file_names_are_kept_only_as_a_safe_display_name(sent: str, kept: str) -> None:
    assert clean_filename(sent) == kept


def test_without_a_scanner_files_are_kept_but_never_called_clean(
    upload: Upload, attachment_settings: AttachmentSettings
) -> None:
    attachment = upload.store(
        b"%PDF-1.7\n" + LINE, settings=attachment_settings, scanner=NoScanner()
    )
    assert attachment.content_type == "application/pdf"
    assert attachment.scan_status == ScanStatus.PENDING


def test_a_rolled_back_row_takes_its_file_with_it(
    upload: Upload, attachment_settings: AttachmentSettings, storage: Path
) -> None:
    kept = upload.store(LINE, settings=attachment_settings, scanner=NoScanner())
    upload.session.commit()
    dropped = upload.store(LINE * 2, settings=attachment_settings, scanner=NoScanner())
    assert stored_path(attachment_settings, dropped.id).exists()
    upload.session.rollback()
    assert not stored_path(attachment_settings, dropped.id).exists()
    assert stored_path(attachment_settings, kept.id).exists()
    assert sorted(p.name for p in storage.iterdir()) == [f"{kept.id}.pdsf"]


# --- Refusals leave nothing behind ---------------------------------------------------------------


def test_a_file_over_the_limit_is_refused_as_soon_as_it_gets_there(
    upload: Upload, storage: Path
) -> None:
    settings = AttachmentSettings(storage_directory=storage, max_bytes=MIB)
    before = upload.data_key_rows()
    source = GeneratedFile(50 * MIB)
    with pytest.raises(UploadRefused) as refused:
        upload.store(source, settings=settings, scanner=NoScanner())
    assert refused.value.reason == refusals.TOO_LARGE
    assert refused.value.message == "The selected file must be smaller than 1 MB"
    assert source.position <= MIB + 64 * 1024  # it stopped reading, did not read 50 MB
    nothing_left(upload, storage, before)


def test_a_file_of_exactly_the_limit_is_accepted(upload: Upload, storage: Path) -> None:
    settings = AttachmentSettings(storage_directory=storage, max_bytes=MIB)
    attachment = upload.store(GeneratedFile(MIB), settings=settings, scanner=NoScanner())
    assert attachment.size_bytes == MIB


def test_a_program_called_report_pdf_is_refused_by_its_content(
    upload: Upload, attachment_settings: AttachmentSettings, storage: Path, clamd: Clamd
) -> None:
    before = upload.data_key_rows()
    program = b"MZ\x90\x00\x03" + bytes(59) + b"This program cannot be run in DOS mode.\r\n"
    with pytest.raises(UploadRefused) as refused:
        upload.store(
            program, settings=attachment_settings, scanner=clamd.scanner(), filename="report.pdf"
        )
    assert refused.value.reason == refusals.WRONG_TYPE
    assert refused.value.message == (
        "The selected file must be a PDF, Word document, spreadsheet, image or text file"
    )
    nothing_left(upload, storage, before)


def test_an_empty_file_is_refused(
    upload: Upload, attachment_settings: AttachmentSettings, storage: Path
) -> None:
    before = upload.data_key_rows()
    with pytest.raises(UploadRefused) as refused:
        upload.store(b"", settings=attachment_settings, scanner=NoScanner())
    assert refused.value.message == "The selected file is empty"
    nothing_left(upload, storage, before)


@pytest.mark.parametrize("where", ["alone", "inside a larger file"])
def test_an_infected_file_is_refused_by_a_real_clamd(
    upload: Upload, attachment_settings: AttachmentSettings, storage: Path, clamd: Clamd, where: str
) -> None:
    before = upload.data_key_rows()
    content = eicar() if where == "alone" else LINE * 50_000 + eicar() + LINE * 10
    with pytest.raises(UploadRefused) as refused:
        upload.store(
            content, settings=attachment_settings, scanner=clamd.scanner(), filename="notes.txt"
        )
    assert refused.value.reason == refusals.INFECTED
    assert refused.value.message == "The selected file contains a virus"
    nothing_left(upload, storage, before)


def test_a_scanner_that_is_down_means_not_accepted(
    upload: Upload, attachment_settings: AttachmentSettings, storage: Path, tmp_path: Path
) -> None:
    before = upload.data_key_rows()
    down = ClamdScanner(socket_path=tmp_path / "no-clamd-here.sock", timeout=2)
    with pytest.raises(UploadRefused) as refused:
        upload.store(LINE, settings=attachment_settings, scanner=down)
    assert refused.value.reason == refusals.NOT_CHECKED
    assert refused.value.message == (
        "The selected file could not be checked for viruses. Try again later"
    )
    nothing_left(upload, storage, before)


def test_clamds_size_limit_means_not_accepted(
    upload: Upload, attachment_settings: AttachmentSettings, storage: Path, small_clamd: Clamd
) -> None:
    before = upload.data_key_rows()
    verdict = small_clamd.scanner().scan([LINE * 40_000])  # about 3 MB, over its 1 MB
    assert (verdict.clean, verdict.reason) == (False, scanning.SCANNER_LIMIT)
    with pytest.raises(UploadRefused) as refused:
        upload.store(
            GeneratedFile(3 * MIB), settings=attachment_settings, scanner=small_clamd.scanner()
        )
    assert refused.value.reason == refusals.TOO_COMPLEX_TO_SCAN
    assert refused.value.message == (
        "The selected file is too large or complex to be checked for viruses. Save it as a PDF, "
        "or split it into smaller files, and upload it again"
    )
    assert "try again" not in refused.value.message.lower()
    assert refusals.message_for(refused.value.reason, MIB, []) == refused.value.message
    nothing_left(upload, storage, before)


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (b"stream: Heuristics.Encrypted.PDF FOUND\x00", refusals.ENCRYPTED),
        (b"stream: Heuristics.Limits.Exceeded.MaxScanSize FOUND\x00", refusals.TOO_COMPLEX_TO_SCAN),
        (b"stream: Can't allocate memory ERROR\x00", refusals.NOT_CHECKED),
    ],
)
def test_what_clamd_could_not_check_is_told_as_what_will_help(
    upload: Upload,
    attachment_settings: AttachmentSettings,
    storage: Path,
    tmp_path: Path,
    reply: bytes,
    reason: str,
) -> None:
    before = upload.data_key_rows()
    with FakeClamd(tmp_path / "clamd.sock", reply):
        scanner = ClamdScanner(socket_path=tmp_path / "clamd.sock", timeout=5)
        with pytest.raises(UploadRefused) as refused:
            upload.store(LINE, settings=attachment_settings, scanner=scanner)
    assert refused.value.reason == reason
    if reason == refusals.ENCRYPTED:  # as the inspection says it of an encrypted document
        assert refused.value.message == refusals.INSPECTION_MESSAGES[refusals.ENCRYPTED]
    nothing_left(upload, storage, before)


# --- The clamd client --------------------------------------------------------------------------


def test_clamd_verdicts_over_the_unix_socket_and_tcp(clamd: Clamd) -> None:
    for scanner in (
        clamd.scanner(),
        ClamdScanner(host="127.0.0.1", port=clamd.tcp_port, timeout=30),
    ):
        assert scanner.ping()
        assert scanner.scan([b"nothing to see"]) == scanning.ScanVerdict(True, scanning.CLEAN)
        found = scanner.scan([b"prefix ", eicar()[:30], eicar()[30:], b" suffix"])
        assert (found.clean, found.reason) == (False, scanning.INFECTED)
        assert found.signature is not None and found.signature.startswith(SIGNATURE_NAME)


def test_production_refuses_to_accept_files_unscanned(tmp_path: Path) -> None:
    empty = tmp_path / "production.toml"
    empty.write_text("", encoding="utf-8")
    environ = {
        "PORTAL_CONFIG": str(empty),
        "PORTAL_DATABASE__URL": "postgresql+psycopg://portal_app@db.internal:5432/portal",
        "PORTAL_KEYRING__PATH": "/etc/portal/keyring.json",
        "PORTAL_SERVICE__BASE_URL": "https://portal.northmoor.example",
        "PORTAL_AUDIT__SIGNING_KEY_FILE": "/etc/portal/audit-signing-key.pem",
        "PORTAL_AUDIT__WITNESS_DIRECTORY": "/var/lib/portal-witness",
        "PORTAL_AUDIT__TSA_URL": "https://tsa.northmoor.example/",
        "PORTAL_AUDIT__TSA_CERTIFICATE_FILE": "/etc/portal/tsa-root.pem",
        "PORTAL_CMS__ADAPTER": "reference",
        "PORTAL_CMS__BASE_URL": "https://cms.northmoor.example",
    }
    assert load_settings(environ=environ).attachments.scanner == "clamd"
    with pytest.raises(ConfigError) as refused:
        load_settings(environ={**environ, "PORTAL_ATTACHMENTS__SCANNER": "none"})
    message = str(refused.value)
    assert '[attachments] scanner = "clamd"' in message
    assert "\n" not in message and message.endswith(".") and ". " not in message
    demo = load_settings(environ={"PORTAL_ENV": "demo", "PORTAL_ATTACHMENTS__SCANNER": "none"})
    assert demo.attachments.scanner == "none"


def test_scanner_for_follows_the_settings(tmp_path: Path) -> None:
    assert isinstance(scanner_for(AttachmentSettings(scanner="none")), NoScanner)
    clamd_settings = AttachmentSettings(clamd_socket=tmp_path / "clamd.sock")
    assert isinstance(scanner_for(clamd_settings), ClamdScanner)
    # clamd chosen but nowhere to find it: nothing is clean.
    unconfigured = scanner_for(AttachmentSettings()).scan([b"text"])
    assert (unconfigured.clean, unconfigured.reason) == (False, scanning.SCANNER_UNAVAILABLE)


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (b"stream: OK\x00", scanning.CLEAN),
        (b"stream: Eicar-Signature FOUND\x00", scanning.INFECTED),
        (b"stream: Heuristics.Limits.Exceeded.MaxFileSize FOUND\x00", scanning.SCANNER_LIMIT),
        (b"stream: Heuristics.Encrypted.Zip FOUND\x00", scanning.SCANNER_ENCRYPTED),
        (b"INSTREAM size limit exceeded. ERROR\x00", scanning.SCANNER_LIMIT),
        (b"stream: Can't allocate memory ERROR\x00", scanning.SCANNER_ERROR),
        (b"stream: OK", scanning.SCANNER_ERROR),  # cut off before its terminator
        (b"stream: OK, probably\x00", scanning.SCANNER_ERROR),
        (b"\x00", scanning.SCANNER_ERROR),
        (b"", scanning.SCANNER_ERROR),
        (b"\xff\xfe garbage\x00", scanning.SCANNER_ERROR),
    ],
)
def test_only_stream_ok_is_clean(reply: bytes, reason: str) -> None:
    verdict = verdict_from_reply(reply)
    assert verdict.reason == reason
    assert verdict.clean is (reason == scanning.CLEAN)


class FakeClamd:
    """A stand-in clamd on a Unix socket that reads one INSTREAM and answers `reply` (or, with
    None, nothing at all until the test ends). Used only for answers a real clamd cannot be
    made to give on demand: garbage, silence, a cut-off reply."""

    def __init__(self, path: Path, reply: bytes | None) -> None:
        self.path = path
        self.reply = reply
        self.done = threading.Event()
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(str(path))
        self.listener.listen(1)
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> FakeClamd:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.done.set()
        self.thread.join(timeout=10)
        self.listener.close()

    def _serve(self) -> None:
        try:
            connection, _ = self.listener.accept()
        except OSError:
            return
        with connection:
            try:
                self._read_instream(connection)
                if self.reply is None:
                    self.done.wait(30)
                else:
                    connection.sendall(self.reply)
            except OSError:
                pass

    @staticmethod
    def _read_instream(connection: socket.socket) -> None:
        def exactly(count: int) -> bytes:
            data = b""
            while len(data) < count:
                more = connection.recv(count - len(data))
                if not more:
                    raise OSError("client went away")
                data += more
            return data

        assert exactly(len(b"zINSTREAM\x00")) == b"zINSTREAM\x00"
        while size := struct.unpack(">I", exactly(4))[0]:
            exactly(size)


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (b"stream: OK\x00", scanning.CLEAN),
        (b"HTTP/1.1 200 OK\r\n\r\n", scanning.SCANNER_ERROR),
        (b"stream: OK", scanning.SCANNER_ERROR),
        (b"INSTREAM size limit exceeded. ERROR\x00", scanning.SCANNER_LIMIT),
    ],
)
def test_a_fake_clamds_answers(tmp_path: Path, reply: bytes, reason: str) -> None:
    with FakeClamd(tmp_path / "fake.sock", reply):
        verdict = ClamdScanner(socket_path=tmp_path / "fake.sock", timeout=5).scan(
            [b"some", b"content"]
        )
    assert verdict.reason == reason


def test_a_silent_clamd_times_out_and_is_not_clean(
    upload: Upload, attachment_settings: AttachmentSettings, storage: Path, tmp_path: Path
) -> None:
    before = upload.data_key_rows()
    with FakeClamd(tmp_path / "silent.sock", None):
        scanner = ClamdScanner(socket_path=tmp_path / "silent.sock", timeout=0.5)
        started = time.monotonic()
        verdict = scanner.scan([LINE])
        assert time.monotonic() - started < 5
        assert (verdict.clean, verdict.reason) == (False, scanning.SCANNER_TIMEOUT)
    with FakeClamd(tmp_path / "silent-2.sock", None):
        scanner = ClamdScanner(socket_path=tmp_path / "silent-2.sock", timeout=0.5)
        with pytest.raises(UploadRefused) as refused:
            upload.store(LINE, settings=attachment_settings, scanner=scanner)
    assert refused.value.reason == refusals.NOT_CHECKED
    nothing_left(upload, storage, before)


# --- Through a real Flask request ---------------------------------------------------------------


BOUNDARY = "----portal-test-boundary-7MA4YWxkTrZu0gW"


def multipart(
    fields: list[tuple[str, str]], file: tuple[str, str, bytes] | None, *, file_first: bool = False
) -> bytes:
    parts = []
    for name, value in fields:
        disposition = f'Content-Disposition: form-data; name="{name}"'
        parts.append(f"--{BOUNDARY}\r\n{disposition}\r\n\r\n{value}\r\n".encode())
    if file is not None:
        name, filename, content = file
        part = (
            (
                f"--{BOUNDARY}\r\n"
                f'Content-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                "Content-Type: application/octet-stream\r\n\r\n"
            ).encode()
            + content
            + b"\r\n"
        )
        parts.insert(0 if file_first else len(parts), part)
    return b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()


@pytest.fixture
def upload_route(
    app: Flask, upload: Upload, attachment_settings: AttachmentSettings, clamd: Clamd
) -> str:
    """A test-only route that does what an upload page does: receive_attachment, then answer."""
    partner_id = upload.partner.id

    @app.post("/test-only/attachments/<uuid:contribution_id>")
    @access(PUBLIC)
    def receive_test_attachment(contribution_id: uuid.UUID) -> tuple[object, int]:
        session = db.session()
        contribution = session.get(Contribution, contribution_id)
        assert contribution is not None
        keyring = runtime.keyring()
        try:
            fields, attachment = receive_attachment(
                request,
                answer_key=ANSWER_KEY,
                contribution=contribution,
                uploader_id=partner_id,
                session=session,
                cipher=RecordCipher(keyring, session),
                keyring=keyring,
                settings=app.config["TEST_ATTACHMENT_SETTINGS"],
                scanner=clamd.scanner(),
            )
        except UploadRefused as refused:
            return {"reason": refused.reason, "message": refused.message}, 400
        return {"id": str(attachment.id), "fields": fields}, 201

    csrf.exempt(receive_test_attachment)
    app.config["TEST_ATTACHMENT_SETTINGS"] = attachment_settings
    return f"/test-only/attachments/{upload.contribution.id}"


@pytest.fixture
def no_temporary_files(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, clamd: Clamd) -> Path:
    """Any temporary file made during the request fails it, and would land in an empty dir.
    (clamd is started first: its own spool directory is not the request's doing.)"""
    temporary = tmp_path / "system-temp"
    temporary.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temporary))

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("a temporary file was made for the upload")

    for name in ("SpooledTemporaryFile", "TemporaryFile", "NamedTemporaryFile", "mkstemp"):
        monkeypatch.setattr(tempfile, name, refuse)
    monkeypatch.setattr(werkzeug.formparser, "default_stream_factory", refuse)
    return temporary


def post(app: Flask, path: str, body: bytes, **headers: str):  # type: ignore[no-untyped-def]
    return app.test_client().post(
        path,
        data=body,
        content_type=f"multipart/form-data; boundary={BOUNDARY}",
        headers=headers,
    )


def test_an_upload_through_flask_streams_without_temporary_files(
    app: Flask, upload: Upload, upload_route: str, storage: Path, no_temporary_files: Path
) -> None:
    app.config["WTF_CSRF_ENABLED"] = False
    content = b"%PDF-1.7\n" + LINE * 120_000  # about 10 MB: ten times the app's 1 MB limit
    body = multipart([("note", "first")], ("file", "Visit notes.pdf", content))
    response = post(app, upload_route, body)
    assert response.status_code == 201, response.get_data(as_text=True)
    assert response.json is not None and response.json["fields"] == {"note": "first"}
    assert list(no_temporary_files.iterdir()) == []

    upload.session.expire_all()
    attachment = upload.session.get(Attachment, uuid.UUID(response.json["id"]))
    assert attachment is not None
    assert attachment.size_bytes == len(content)
    assert attachment.sha256 == hashlib.sha256(content).digest()
    assert attachment.content_type == "application/pdf"
    assert attachment.scan_status == ScanStatus.CLEAN
    assert upload.cipher.open_text(attachment, "filename_enc") == "Visit notes.pdf"
    assert not file_contains(
        stored_path(app.config["TEST_ATTACHMENT_SETTINGS"], attachment.id), MARKER
    )
    assert [p.suffix for p in storage.iterdir()] == [".pdsf"]


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (eicar(), refusals.INFECTED),
        (b"MZ\x90\x00" + bytes(500), refusals.WRONG_TYPE),
        (b"", refusals.EMPTY),
    ],
    ids=["infected", "program", "empty"],
)
def test_a_refused_upload_through_flask_leaves_nothing(
    app: Flask,
    upload: Upload,
    upload_route: str,
    storage: Path,
    no_temporary_files: Path,
    content: bytes,
    reason: str,
) -> None:
    app.config["WTF_CSRF_ENABLED"] = False
    before = upload.data_key_rows()
    response = post(app, upload_route, multipart([], ("file", "report.pdf", content)))
    assert response.status_code == 400
    assert response.json is not None and response.json["reason"] == reason
    nothing_left(upload, storage, before)
    assert list(no_temporary_files.iterdir()) == []


def test_no_file_chosen_asks_for_one(app: Flask, upload: Upload, upload_route: str) -> None:
    app.config["WTF_CSRF_ENABLED"] = False
    response = post(app, upload_route, multipart([("note", "x")], ("file", "", b"")))
    assert response.status_code == 400
    assert response.json == {"reason": refusals.MISSING, "message": "Select a file"}


def test_too_large_through_flask_is_refused_before_or_while_reading(
    app: Flask, upload: Upload, upload_route: str, storage: Path
) -> None:
    app.config["WTF_CSRF_ENABLED"] = False
    app.config["TEST_ATTACHMENT_SETTINGS"] = AttachmentSettings(
        storage_directory=storage, max_bytes=MIB
    )
    before = upload.data_key_rows()
    # Content-Length alone shows it is too large: refused without reading the body.
    response = post(app, upload_route, multipart([], ("file", "big.txt", LINE * 40_000)))
    assert response.status_code == 400
    assert response.json is not None
    assert response.json["message"] == "The selected file must be smaller than 1 MB"
    # Within the request limit, but the file itself is over: refused as it crosses the line.
    response = post(app, upload_route, multipart([], ("file", "big.txt", b"a" * (MIB + 1))))
    assert response.status_code == 400
    assert response.json is not None and response.json["reason"] == refusals.TOO_LARGE
    nothing_left(upload, storage, before)


def test_an_upload_needs_a_valid_csrf_token(
    app: Flask, upload: Upload, upload_route: str, storage: Path
) -> None:
    client = app.test_client()
    content_type = f"multipart/form-data; boundary={BOUNDARY}"
    file = ("file", "notes.txt", LINE * 10)
    before = upload.data_key_rows()
    # A forged token sent before the file is refused before anything is stored.
    response = client.post(
        upload_route,
        data=multipart([("csrf_token", "forged")], file, file_first=False),
        content_type=content_type,
    )
    assert response.status_code == 400
    assert not storage.exists()
    # No token, or a forged one after the file: refused once it is known.
    for fields in ([], [("csrf_token", "forged")]):
        response = client.post(
            upload_route, data=multipart(fields, file, file_first=True), content_type=content_type
        )
        assert response.status_code == 400
    nothing_left(upload, storage, before)

    token = csrf_token(client.get("/sign-in").get_data(as_text=True))
    response = client.post(
        upload_route, data=multipart([("csrf_token", token)], file), content_type=content_type
    )
    assert response.status_code == 201, response.get_data(as_text=True)


def test_read_upload_refuses_a_body_someone_already_parsed(
    app: Flask, upload: Upload, upload_route: str, caplog: pytest.LogCaptureFixture
) -> None:
    # CSRFProtect left on for the route would parse request.form first (and spool the file to
    # an unencrypted temporary file); read_upload refuses to work after that.
    app.config["WTF_CSRF_ENABLED"] = False

    def parse_the_form() -> None:
        assert "file" in request.files

    app.before_request_funcs.setdefault(None, []).append(parse_the_form)
    response = post(app, upload_route, multipart([], ("file", "notes.txt", LINE)))
    assert response.status_code == 500
    assert "unhandled RuntimeError" in caplog.text
    assert upload.attachment_rows() == 0
