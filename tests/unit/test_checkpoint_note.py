"""Checkpoints as C2SP signed notes (portal/audit/note.py): the published vectors of Go's
golang.org/x/mod/sumdb/note and C2SP tlog-checkpoint, a round trip, every tamper, and the
limits a reader keeps."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from portal.audit.note import (
    CheckpointBody,
    NoteError,
    key_hash,
    open_note,
    sign_note,
    signature_line,
    verifier_key,
)
from portal.audit.signing import CheckpointSigner

# golang.org/x/mod/sumdb/note's test key and signature (note_test.go): the private key is
# 0x01 || Ed25519 seed, the verifier key name+hash+base64(0x01 || public key).
PETER_SKEY = "AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
PETER_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
PETER_SIG = (
    "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqd"
    "ngotpRZb6KE6RyyBwJnAM=\n"
)
# C2SP tlog-checkpoint's example body.
SOFA = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
ORIGIN = "portal.example.gov.uk/audit"


def peter() -> CheckpointSigner:
    seed = base64.b64decode(PETER_SKEY)
    assert seed[0] == 1
    return CheckpointSigner(Ed25519PrivateKey.from_private_bytes(seed[1:]))


@pytest.fixture(scope="module")
def signer() -> CheckpointSigner:
    return CheckpointSigner(Ed25519PrivateKey.generate())


@pytest.fixture(scope="module")
def body() -> CheckpointBody:
    root = hashlib.sha256(b"a root").digest()
    return CheckpointBody(ORIGIN, 1234, root, ("portal-chain-head 133 " + "ab" * 32,))


@pytest.fixture(scope="module")
def note(body: CheckpointBody, signer: CheckpointSigner) -> str:
    return sign_note(body, signer, ORIGIN)


def test_the_key_hash_and_verifier_key_are_go_sumdb_notes() -> None:
    assert key_hash("PeterNeumann", peter().public) == bytes.fromhex("c74f20a3")
    assert verifier_key("PeterNeumann", peter().public) == PETER_VKEY


def test_a_signature_line_is_byte_for_byte_go_sumdb_notes() -> None:
    assert signature_line(PETER_TEXT, peter(), "PeterNeumann") == PETER_SIG


def test_the_c2sp_example_checkpoint_body_reads_and_writes_back() -> None:
    body = CheckpointBody.parse(SOFA)
    assert (body.origin, body.size, body.extensions) == (
        "example.com/behind-the-sofa",
        20852163,
        (),
    )
    assert body.root == base64.b64decode("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=")
    assert body.text() == SOFA


def test_a_signed_checkpoint_opens_with_its_key(
    note: str, body: CheckpointBody, signer: CheckpointSigner
) -> None:
    text = body.text()
    assert note == text + "\n" + signature_line(text, signer, ORIGIN)
    assert note.startswith(f"{ORIGIN}\n1234\n")
    opened = open_note(note, [(ORIGIN, signer.public)])
    assert opened.body == body
    assert opened.text == text
    assert opened.key_id == signer.public.key_id


def test_an_empty_tree_checkpoint_round_trips(signer: CheckpointSigner) -> None:
    empty = CheckpointBody(ORIGIN, 0, hashlib.sha256(b"").digest())
    assert open_note(sign_note(empty, signer, ORIGIN), [(ORIGIN, signer.public)]).body == empty


def test_an_unknown_second_signature_is_ignored(note: str, signer: CheckpointSigner) -> None:
    witness = CheckpointSigner(Ed25519PrivateKey.generate())
    text = note[: note.rindex("\n\n") + 1]
    cosigned = note + signature_line(text, witness, "witness.example/w1")
    assert open_note(cosigned, [(ORIGIN, signer.public)]).key_id == signer.public.key_id
    # ...and the witness alone is trusted through its own line.
    by_witness = open_note(cosigned, [("witness.example/w1", witness.public)])
    assert by_witness.key_id == witness.public.key_id


def test_a_note_signed_only_by_unknown_keys_is_refused(note: str) -> None:
    other = CheckpointSigner(Ed25519PrivateKey.generate())
    with pytest.raises(NoteError, match="no signature by a key this reader trusts"):
        open_note(note, [(ORIGIN, other.public)])
    with pytest.raises(NoteError, match="no signature by a key this reader trusts"):
        open_note(note, [])


def test_the_same_key_under_another_name_is_not_trusted(
    note: str, signer: CheckpointSigner
) -> None:
    with pytest.raises(NoteError, match="no signature"):
        open_note(note, [("another.example/audit", signer.public)])


def _tampers(note: str) -> list[str]:
    """Every single-character change to the note's text and signature: each byte of the body
    and of the base64 signature replaced by another character that keeps the note readable."""
    changed = []
    for index, character in enumerate(note):
        if character in "\n— ":
            continue
        replacement = "B" if character != "B" else "C"
        changed.append(note[:index] + replacement + note[index + 1 :])
    return changed


def test_every_tamper_of_the_body_or_signature_fails(note: str, signer: CheckpointSigner) -> None:
    keys = [(ORIGIN, signer.public)]
    tampers = _tampers(note)
    assert len(tampers) > 150
    for tampered in tampers:
        with pytest.raises(NoteError):
            open_note(tampered, keys)


def test_a_bad_signature_by_a_known_key_refuses_the_note_even_beside_a_good_one(
    note: str, signer: CheckpointSigner
) -> None:
    text = note[: note.rindex("\n\n") + 1]
    forged = signature_line("something else\n", signer, ORIGIN)
    with pytest.raises(NoteError, match="does not match the checkpoint"):
        open_note(note + forged, [(ORIGIN, signer.public)])
    assert forged != signature_line(text, signer, ORIGIN)


def _with_body(text: str, signer: CheckpointSigner) -> str:
    """A note over any text, correctly signed: so only the reading rules can refuse it."""
    return text + "\n" + signature_line(text, signer, ORIGIN)


ROOT = base64.b64encode(bytes(32)).decode()


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("\n5\n" + ROOT + "\n", "origin line is empty"),
        (" portal/audit\n5\n" + ROOT + "\n", "starts or ends with a space"),
        ("portal/audit \n5\n" + ROOT + "\n", "starts or ends with a space"),
        ("portal/audit\n05\n" + ROOT + "\n", "decimal number without leading zeros"),
        ("portal/audit\n+5\n" + ROOT + "\n", "decimal number"),
        ("portal/audit\n5.0\n" + ROOT + "\n", "decimal number"),
        ("portal/audit\n٥\n" + ROOT + "\n", "decimal number"),  # an Arabic-Indic five
        ("portal/audit\n" + str(2**63) + "\n" + ROOT + "\n", "too large"),
        ("portal/audit\n5\n" + ROOT[:-4] + "\n", "not 32 bytes"),
        ("portal/audit\n5\n" + base64.b64encode(bytes(33)).decode() + "\n", "not 32 bytes"),
        ("portal/audit\n5\n" + ROOT.rstrip("=") + "\n", "not standard base64"),
        ("portal/audit\n5\n" + base64.urlsafe_b64encode(b"\xff" * 32).decode() + "\n", "base64"),
        ("portal/audit\n5\n" + ROOT[:-2] + "B=\n", "not standard base64"),  # non-canonical bits
        ("portal/audit\n5\n", "at least three lines"),
        ("portal/audit\n5\n" + ROOT + "\nextension\tline\n", "control character"),
    ],
)
def test_a_malformed_checkpoint_is_refused_with_its_reason(
    text: str, reason: str, signer: CheckpointSigner
) -> None:
    with pytest.raises(NoteError, match=reason):
        open_note(_with_body(text, signer), [(ORIGIN, signer.public)])


def test_a_note_over_64_kib_is_refused(signer: CheckpointSigner) -> None:
    text = "portal/audit\n5\n" + ROOT + "\n" + ("x" * 1000 + "\n") * 66
    with pytest.raises(NoteError, match="larger than 64 KiB"):
        open_note(_with_body(text, signer), [(ORIGIN, signer.public)])


def test_more_than_100_signature_lines_are_refused(note: str, signer: CheckpointSigner) -> None:
    line = note[note.rindex("\n\n") + 2 :]
    assert open_note(note + line * 99, [(ORIGIN, signer.public)]).body.size == 1234
    with pytest.raises(NoteError, match="more than 100 signature lines"):
        open_note(note + line * 100, [(ORIGIN, signer.public)])


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda note: note.replace("\n", "\r\n"), "carriage return"),
        (lambda note: note.replace("\n\n", "\n"), "no blank line"),
        (lambda note: note[:-1], "does not end with a newline"),
        (lambda note: note + "\n", "not a signature line"),
        (lambda note: note + "a stray line\n", "not a signature line"),
        (lambda note: note.replace("— ", "- "), "not a signature line"),
        (lambda note: note.replace(f"— {ORIGIN} ", f"— {ORIGIN}"), "no space between"),
        (lambda note: note.replace(f"— {ORIGIN} ", "— a+b "), "non-empty, without spaces"),
        (lambda note: note.replace("\n\n", "\n\n— x AAAA\n"), "too short"),
        (lambda note: "\ud800" + note, "not valid UTF-8"),
        (lambda note: "\x00" + note, "control character"),
    ],
)
def test_a_malformed_note_is_refused_with_its_reason(
    note: str, signer: CheckpointSigner, change: object, reason: str
) -> None:
    assert callable(change)
    with pytest.raises(NoteError, match=reason):
        open_note(change(note), [(ORIGIN, signer.public)])


def test_a_body_that_would_not_read_back_is_never_signed(signer: CheckpointSigner) -> None:
    root = bytes(32)
    for body in [
        CheckpointBody(ORIGIN, 1, bytes(31)),
        CheckpointBody("two\nlines", 1, root),
        CheckpointBody(ORIGIN, -1, root),
        CheckpointBody(ORIGIN, 1, root, ("",)),
        CheckpointBody(ORIGIN, 1, root, ("one\n\ntwo",)),
    ]:
        with pytest.raises(NoteError):
            sign_note(body, signer, ORIGIN)
    with pytest.raises(NoteError, match="key name"):
        sign_note(CheckpointBody(ORIGIN, 1, root), signer, "a name with spaces")


def _colliding(index: int) -> CheckpointSigner:
    seed = hashlib.sha256(b"collide %d" % index).digest()
    return CheckpointSigner(Ed25519PrivateKey.from_private_bytes(seed))


def test_two_different_trusted_keys_with_one_name_and_hash_are_ambiguous(note: str) -> None:
    # Two keys whose four-byte key hashes under ORIGIN collide (found by a birthday search
    # over the seeds SHA-256("collide <n>")): a reader holding both cannot tell which signed.
    first, second = _colliding(5396), _colliding(140850)
    assert key_hash(ORIGIN, first.public) == key_hash(ORIGIN, second.public)
    with pytest.raises(NoteError, match="ambiguous"):
        open_note(note, [(ORIGIN, first.public), (ORIGIN, second.public)])
