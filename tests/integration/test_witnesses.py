"""The witnesses outside the database (portal/audit/witness.py): the append-only checkpoint
directory on real files, and the RFC 3161 client against the real loopback TSA (openssl ts,
loopback/tsa.py) and against servers that misbehave on loopback."""

from __future__ import annotations

import multiprocessing
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from rfc3161_client import HashAlgorithm, TimestampRequestBuilder, decode_timestamp_response

from loopback.tsa import ROOT_FILE, LoopbackTsa, make_certificates
from portal.audit.note import CheckpointBody, NoteError, open_note, sign_note
from portal.audit.signing import CheckpointSigner
from portal.audit.witness import (
    MAX_ANSWER_BYTES,
    CheckpointStore,
    TimestampAuthority,
    TimestampInvalid,
    WitnessConflict,
    WitnessUnavailable,
    check_timestamp,
    granted_response,
)

ORIGIN = "portal.example.gov.uk/audit"
NOTE = "a checkpoint note\n\n— someone c2lnbmF0dXJl\n"
OTHER_NOTE = "another checkpoint note\n\n— someone c2lnbmF0dXJl\n"


@pytest.fixture
def store(tmp_path: Path) -> CheckpointStore:
    return CheckpointStore(tmp_path)


def test_a_note_put_is_kept_under_its_size(store: CheckpointStore, tmp_path: Path) -> None:
    assert store.sizes() == [] and store.get(7) is None
    store.put(7, NOTE)
    store.put(3, OTHER_NOTE)
    path = tmp_path / "checkpoints" / "00000000000000000007.note"
    assert path.read_bytes() == NOTE.encode()
    assert path.stat().st_mode & 0o777 == 0o640
    assert store.get(7) == NOTE
    assert store.sizes() == [3, 7]
    assert list(store.notes()) == [(3, OTHER_NOTE), (7, NOTE)]


def test_the_same_note_again_is_a_no_op(store: CheckpointStore) -> None:
    store.put(7, NOTE)
    modified = store.path(7).stat().st_mtime_ns
    store.put(7, NOTE)
    assert store.get(7) == NOTE and store.path(7).stat().st_mtime_ns == modified


def test_another_note_for_a_kept_size_is_a_conflict_and_changes_nothing(
    store: CheckpointStore,
) -> None:
    store.put(7, NOTE)
    with pytest.raises(WitnessConflict, match="different checkpoint for size 7"):
        store.put(7, OTHER_NOTE)
    # A longer note that starts with the kept one: not mistaken for a write in progress.
    with pytest.raises(WitnessConflict):
        store.put(7, NOTE + "— witness c2lnbmF0dXJl\n")
    assert store.get(7) == NOTE and store.sizes() == [7]


def test_a_missing_witness_directory_is_unavailable_and_never_created(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path / "unmounted")
    with pytest.raises(WitnessUnavailable, match="Cannot write"):
        store.put(1, NOTE)
    with pytest.raises(WitnessUnavailable, match="missing"):
        store.sizes()
    assert not (tmp_path / "unmounted").exists()


def test_a_directory_that_cannot_be_written_is_unavailable(tmp_path: Path) -> None:
    (tmp_path / "checkpoints").write_text("not a directory")
    with pytest.raises(WitnessUnavailable, match="Cannot write"):
        CheckpointStore(tmp_path).put(1, NOTE)
    with pytest.raises(WitnessUnavailable, match="Cannot list"):
        CheckpointStore(tmp_path).sizes()


def test_a_note_that_cannot_be_read_is_unavailable(store: CheckpointStore) -> None:
    store.put(1, NOTE)
    store.path(2).mkdir()
    with pytest.raises(WitnessUnavailable, match="Cannot read"):
        store.get(2)
    with pytest.raises(WitnessUnavailable):
        list(store.notes())


def _as_nobody(action: Callable[[], None]) -> int:
    """Run `action` in a child process with the unprivileged user `nobody` (root, as the
    tests run here, may write anywhere); its exit code: 0 done, 3 WitnessUnavailable."""

    def child() -> None:
        os.setgid(65534)
        os.setuid(65534)
        try:
            action()
        except WitnessUnavailable:
            os._exit(3)
        os._exit(0)

    process = multiprocessing.get_context("fork").Process(target=child)
    process.start()
    process.join(30)
    return int(process.exitcode or 0)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as another user")
def test_permissions_that_forbid_writing_or_reading_are_unavailable(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path)
    store.put(1, NOTE)
    tmp_path.chmod(0o755)
    store.checkpoints.chmod(0o555)
    assert _as_nobody(lambda: store.put(2, NOTE)) == 3
    store.path(1).chmod(0o600)
    assert _as_nobody(lambda: None if store.get(1) else None) == 3
    assert _as_nobody(lambda: store.put(1, NOTE)) == 3
    assert store.sizes() == [1]


def test_a_file_that_is_not_a_note_is_reported_never_skipped(store: CheckpointStore) -> None:
    store.put(1, NOTE)
    (store.checkpoints / "00000000000000000002.note.tmp").write_text(OTHER_NOTE)
    with pytest.raises(WitnessConflict, match=r"not checkpoints: 00000000000000000002\.note\.tmp"):
        store.sizes()
    with pytest.raises(WitnessConflict):
        list(store.notes())


def test_a_corrupted_note_comes_back_for_the_reader_to_refuse(store: CheckpointStore) -> None:
    signer = CheckpointSigner(Ed25519PrivateKey.generate())
    note = sign_note(CheckpointBody(ORIGIN, 5, bytes(32)), signer, ORIGIN)
    store.path(5).parent.mkdir()
    store.path(5).write_bytes(b"\xff" + note.encode())
    kept = store.get(5)
    assert kept is not None
    with pytest.raises(NoteError, match="not valid UTF-8"):
        open_note(kept, [(ORIGIN, signer.public)])


def test_a_writer_that_died_mid_write_leaves_no_note_behind(store: CheckpointStore) -> None:
    """A note is written whole in incoming/ and only then linked into checkpoints/: what a
    writer killed mid-write leaves is a partial file in incoming/, never a partial note."""
    store.put(1, NOTE)
    (store.incoming / "tmpdead.partial").write_text(NOTE[:5])  # as a killed writer leaves it
    assert store.sizes() == [1]
    store.put(2, NOTE)
    assert store.get(2) == NOTE
    assert not [path for path in store.incoming.iterdir() if path.name != "tmpdead.partial"]


def _put_in_race(directory: Path, size: int, note: str, barrier: object, results: object) -> None:
    assert hasattr(barrier, "wait") and hasattr(results, "put")
    barrier.wait()
    try:
        CheckpointStore(directory).put(size, note)
        results.put((size, note, "kept"))
    except WitnessConflict:
        results.put((size, note, "conflict"))


def _race(directory: Path, notes: tuple[str, str], rounds: int) -> list[tuple[int, str, str]]:
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    outcomes = []
    for size in range(rounds):
        barrier = context.Barrier(2)
        processes = [
            context.Process(target=_put_in_race, args=(directory, size, note, barrier, results))
            for note in notes
        ]
        for process in processes:
            process.start()
        for process in processes:
            process.join(30)
            assert process.exitcode == 0
        outcomes += [results.get(timeout=5), results.get(timeout=5)]
    return outcomes


def test_two_processes_putting_the_same_note_at_once_both_succeed(tmp_path: Path) -> None:
    long_note = NOTE * 500  # long enough that one write may be seen half done
    outcomes = _race(tmp_path, (long_note, long_note), 20)
    assert {outcome for _size, _note, outcome in outcomes} == {"kept"}
    store = CheckpointStore(tmp_path)
    assert store.sizes() == list(range(20))
    assert all(note == long_note for _size, note in store.notes())


def test_two_processes_putting_different_notes_at_once_one_wins(tmp_path: Path) -> None:
    notes = (NOTE * 500, OTHER_NOTE * 500)
    outcomes = _race(tmp_path, notes, 20)
    store = CheckpointStore(tmp_path)
    for size in range(20):
        mine = sorted((outcome, note) for kept_size, note, outcome in outcomes if kept_size == size)
        assert [outcome for outcome, _note in mine] == ["conflict", "kept"]
        assert store.get(size) == mine[1][1]


# The time-stamping authority.

DATA = NOTE.encode()


def test_a_stamp_from_the_loopback_tsa_checks_out(tsa: LoopbackTsa) -> None:
    token = TimestampAuthority(tsa.url, tsa.trust_roots_pem).stamp(DATA)
    moment = check_timestamp(token, DATA, tsa.trust_roots_pem)
    assert moment.tzinfo is not None
    assert abs(moment - datetime.now(UTC)) < timedelta(minutes=1)


def test_a_token_over_other_data_fails(tsa: LoopbackTsa) -> None:
    token = TimestampAuthority(tsa.url, tsa.trust_roots_pem).stamp(DATA)
    with pytest.raises(TimestampInvalid, match="over other data"):
        check_timestamp(token, OTHER_NOTE.encode(), tsa.trust_roots_pem)


def test_a_token_checked_against_another_root_fails(tsa: LoopbackTsa, tmp_path: Path) -> None:
    token = TimestampAuthority(tsa.url, tsa.trust_roots_pem).stamp(DATA)
    make_certificates(tmp_path)
    other_root = (tmp_path / ROOT_FILE).read_bytes()
    with pytest.raises(TimestampInvalid, match="does not verify"):
        check_timestamp(token, DATA, other_root)
    # ...and the TSA's answer is refused when it does not chain to the roots the client trusts.
    with pytest.raises(WitnessUnavailable, match="bad token"):
        TimestampAuthority(tsa.url, other_root).stamp(DATA)


def _proves(token: bytes) -> tuple[object, ...]:
    """What a token says: imprint, time, serial number, nonce and policy."""
    info = decode_timestamp_response(granted_response(token)).tst_info
    return (
        info.message_imprint.message,
        info.gen_time,
        info.serial_number,
        info.nonce,
        info.policy,
    )


def test_a_tampered_token_fails(tsa: LoopbackTsa) -> None:
    token = TimestampAuthority(tsa.url, tsa.trust_roots_pem).stamp(DATA)
    now = datetime.now(UTC)
    moment = now.strftime("%Y%m%d%H").encode()
    assert moment in token
    earlier = token.replace(moment, (now - timedelta(days=365)).strftime("%Y%m%d%H").encode(), 1)
    for changed in [earlier, token[:-1] + bytes([token[-1] ^ 1]), token[:-10], token + b"\0"]:
        with pytest.raises(TimestampInvalid):
            check_timestamp(changed, DATA, tsa.trust_roots_pem)


def test_no_change_to_a_token_alters_what_it_proves(tsa: LoopbackTsa) -> None:
    """Every byte flipped in turn: the token fails, or the byte was one CMS leaves unsigned
    (a version number, the name of the signature algorithm, which the key decides) and the
    token still proves exactly what it did."""
    token = TimestampAuthority(tsa.url, tsa.trust_roots_pem).stamp(DATA)
    unsigned = []
    for index in range(len(token)):
        changed = token[:index] + bytes([token[index] ^ 0x40]) + token[index + 1 :]
        try:
            check_timestamp(changed, DATA, tsa.trust_roots_pem)
        except TimestampInvalid:
            continue
        assert _proves(changed) == _proves(token)
        unsigned.append(index)
    assert len(unsigned) < 16, unsigned


def test_a_stopped_tsa_is_unavailable_and_then_back(tmp_path: Path) -> None:
    running = LoopbackTsa(tmp_path).start()
    authority = TimestampAuthority(running.url, running.trust_roots_pem, timeout=2)
    try:
        running.stop()
        started = time.monotonic()
        with pytest.raises(WitnessUnavailable, match="could not be reached"):
            authority.stamp(DATA)
        assert time.monotonic() - started < 2.5
        running.start()
        token = authority.stamp(DATA)
        check_timestamp(token, DATA, running.trust_roots_pem)
    finally:
        running.stop()


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never answers."""
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen(8)
        yield int(listening.getsockname()[1])


def test_a_tsa_that_never_answers_is_unavailable_within_the_timeout(
    silent_port: int, tsa: LoopbackTsa
) -> None:
    authority = TimestampAuthority(f"http://127.0.0.1:{silent_port}/", tsa.trust_roots_pem, 1.0)
    started = time.monotonic()
    with pytest.raises(WitnessUnavailable, match="could not be reached"):
        authority.stamp(DATA)
    assert time.monotonic() - started < 3


def _answering(status: int, body: bytes) -> type[BaseHTTPRequestHandler]:
    class Answer(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the name http.server calls
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(status)
            self.send_header("Content-Type", "application/timestamp-reply")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    return Answer


@contextmanager
def _serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """A server on loopback answering with `handler`; yields its URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        thread.join()
        server.server_close()


@pytest.mark.parametrize(
    ("status", "body", "reason"),
    [
        (200, b"garbage", "unreadable"),
        (200, b"", "unreadable"),
        (200, bytes.fromhex("30053003020102"), "did not grant"),  # status: rejection
        (500, b"", "HTTP 500"),
        (302, b"", "HTTP 302"),  # a redirect is not followed
        (200, b"0" * (MAX_ANSWER_BYTES + 1), "more than"),  # read no further than the cap
    ],
)
def test_a_server_answering_nonsense_is_unavailable(
    tsa: LoopbackTsa, status: int, body: bytes, reason: str
) -> None:
    with _serving(_answering(status, body)) as url:
        with pytest.raises(WitnessUnavailable, match=reason):
            TimestampAuthority(url, tsa.trust_roots_pem).stamp(DATA)


def test_a_replayed_answer_from_the_real_tsa_is_refused(tsa: LoopbackTsa) -> None:
    """A genuine, well-signed answer to an earlier request (another nonce): a server that
    replays it must not pass for the TSA."""
    earlier = TimestampRequestBuilder().data(DATA).hash_algorithm(HashAlgorithm.SHA256).build()
    answer = requests.post(
        tsa.url,
        data=earlier.as_bytes(),
        headers={"Content-Type": "application/timestamp-query"},
        timeout=10,
    )
    assert decode_timestamp_response(answer.content).status == 0
    with _serving(_answering(200, answer.content)) as url:
        with pytest.raises(WitnessUnavailable, match="Nonce mismatch"):
            TimestampAuthority(url, tsa.trust_roots_pem).stamp(DATA)


def test_the_loopback_tsa_refuses_what_is_not_a_small_query(tsa: LoopbackTsa) -> None:
    wrong_type = requests.post(
        tsa.url, data=b"x", headers={"Content-Type": "text/plain"}, timeout=10
    )
    assert wrong_type.status_code == 415
    too_big = requests.post(
        tsa.url,
        data=b"x" * (64 * 1024 + 1),
        headers={"Content-Type": "application/timestamp-query"},
        timeout=10,
    )
    assert too_big.status_code == 413
    not_a_query = requests.post(
        tsa.url, data=b"x", headers={"Content-Type": "application/timestamp-query"}, timeout=10
    )
    # OpenSSL answers a query it cannot read with a TimeStampResp of status rejection (2).
    rejection = decode_timestamp_response(not_a_query.content)
    assert not_a_query.status_code == 200 and rejection.status == 2
