"""Checkpoints of the audit log's Merkle tree as signed notes, in the formats other
transparency logs and their witnesses read.

The body is a C2SP tlog-checkpoint (https://c2sp.org/tlog-checkpoint): the origin, the tree
size in decimal, the base64 root hash, then optional extension lines. It is signed as a C2SP
signed note (https://c2sp.org/signed-note, the format of golang.org/x/mod/sumdb/note): the
text, a blank line, then lines `— <key name> base64(key hash || Ed25519 signature)`. The key
hash is the first four bytes of SHA-256(name || "\\n" || 0x01 || raw public key), so a reader
holding several keys knows which one signed without trying each.

Reading is strict: a note that is not exactly what this module writes (one canonical spelling
of each number and hash) is refused with a plain reason, so that two different texts can
never stand for the same checkpoint. Signatures by keys the reader does not know are ignored,
as the specification asks: witnesses may add their cosignatures below the log's own.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization

from portal.audit.signing import CheckpointSigner, PublicKey

MAX_NOTE_BYTES = 64 * 1024
MAX_SIGNATURES = 100
ED25519_TYPE = b"\x01"
_SIGNATURE_PREFIX = "— "
_DECIMAL = re.compile(r"0|[1-9][0-9]*")
_LARGEST_SIZE = 2**63 - 1  # the database keeps tree sizes in a signed 64-bit column
_ROOT_BYTES = 32


class NoteError(Exception):
    """A checkpoint note that cannot be read or whose signature does not hold; says why."""


@dataclass(frozen=True)
class CheckpointBody:
    """The signed part of a checkpoint: which log, how many leaves, the root over them."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def text(self) -> str:
        """The note text the log signs (each line ends with a newline)."""
        lines = [self.origin, str(self.size), base64.b64encode(self.root).decode("ascii")]
        return "".join(line + "\n" for line in [*lines, *self.extensions])

    @classmethod
    def parse(cls, text: str) -> CheckpointBody:
        """Read a checkpoint body, refusing anything but the one canonical spelling."""
        _check_characters(text)
        if not text.endswith("\n"):
            raise NoteError("The checkpoint does not end with a newline.")
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise NoteError("A checkpoint has at least three lines: origin, size and root.")
        origin, size, root, *extensions = lines
        body = cls(_origin(origin), _size(size), _root(root), tuple(extensions))
        if any(line == "" for line in extensions):
            raise NoteError("A checkpoint's extension lines must not be empty.")
        return body


@dataclass(frozen=True)
class OpenedNote:
    """A checkpoint note whose signature by a known key held.

    `text` is the note text that signature covers (the same as `body.text()`); `key_id` is
    the verifying key's `PublicKey.key_id`, the identifier the rest of the audit trail uses.
    """

    body: CheckpointBody
    key_id: str
    text: str


def _raw(public: PublicKey) -> bytes:
    return public.key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_hash(name: str, public: PublicKey) -> bytes:
    """The four bytes that name an Ed25519 key in a signature line (C2SP signed-note)."""
    _check_key_name(name)
    return hashlib.sha256(name.encode("utf-8") + b"\n" + ED25519_TYPE + _raw(public)).digest()[:4]


def verifier_key(name: str, public: PublicKey) -> str:
    """The key as a `vkey` line (`name+hex key hash+base64(0x01 || key)`), as Go's sumdb
    note package and the C2SP witnesses configure the logs they trust."""
    encoded = base64.b64encode(ED25519_TYPE + _raw(public)).decode("ascii")
    return f"{name}+{key_hash(name, public).hex()}+{encoded}"


def signature_line(text: str, signer: CheckpointSigner, name: str) -> str:
    """One signature line over any note text: what `sign_note` appends."""
    signature = signer.sign(text.encode("utf-8"))
    encoded = base64.b64encode(key_hash(name, signer.public) + signature).decode("ascii")
    return f"{_SIGNATURE_PREFIX}{name} {encoded}\n"


def sign_note(body: CheckpointBody, signer: CheckpointSigner, name: str) -> str:
    """The checkpoint as a signed note: its text, a blank line, the log's signature line."""
    text = body.text()
    if CheckpointBody.parse(text) != body:
        raise NoteError("The checkpoint would not read back as the same checkpoint.")
    return text + "\n" + signature_line(text, signer, name)


@dataclass(frozen=True)
class _Signature:
    name: str
    key_hash: bytes
    signature: bytes


def open_note(note: str, keys: Iterable[tuple[str, PublicKey]]) -> OpenedNote:
    """Read a signed checkpoint and check it carries a good signature by one of `keys`.

    Signature lines by unknown keys (another name or key hash) are skipped; a line by a
    known key that does not verify refuses the whole note, as C2SP signed-note advises.
    """
    text, signatures = _split_note(note)
    body = CheckpointBody.parse(text)
    known = _known_keys(keys)
    verified: PublicKey | None = None
    for line in signatures:
        public = known.get((line.name, line.key_hash))
        if public is None:
            continue
        if len(line.signature) != 64 or not public.verifies(text.encode("utf-8"), line.signature):
            raise NoteError(f"The signature by {line.name} does not match the checkpoint.")
        verified = verified or public
    if verified is None:
        raise NoteError("The checkpoint carries no signature by a key this reader trusts.")
    return OpenedNote(body, verified.key_id, text)


def _known_keys(keys: Iterable[tuple[str, PublicKey]]) -> dict[tuple[str, bytes], PublicKey]:
    known: dict[tuple[str, bytes], PublicKey] = {}
    for name, public in keys:
        slot = (name, key_hash(name, public))
        if slot in known and _raw(known[slot]) != _raw(public):
            raise NoteError(f"Two trusted keys named {name} share a key hash: ambiguous.")
        known[slot] = public
    return known


def _split_note(note: str) -> tuple[str, list[_Signature]]:
    """The note text and its signature lines, after the limits every note must keep."""
    _check_characters(note)
    if len(note.encode("utf-8")) > MAX_NOTE_BYTES:
        raise NoteError(f"The note is larger than {MAX_NOTE_BYTES // 1024} KiB.")
    if not note.endswith("\n"):
        raise NoteError("The note does not end with a newline.")
    split = note.rfind("\n\n")
    if split < 0:
        raise NoteError("The note has no blank line between its text and its signatures.")
    text, lines = note[: split + 1], note[split + 2 : -1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise NoteError(f"The note has more than {MAX_SIGNATURES} signature lines.")
    return text, [_signature(line) for line in lines]


def _signature(line: str) -> _Signature:
    if not line.startswith(_SIGNATURE_PREFIX):
        raise NoteError("A line after the blank line is not a signature line.")
    name, space, encoded = line[len(_SIGNATURE_PREFIX) :].partition(" ")
    if not space:
        raise NoteError("A signature line has no space between key name and signature.")
    _check_key_name(name)
    decoded = _strict_base64(encoded, "A signature")
    if len(decoded) < 5:
        raise NoteError("A signature is too short to hold a key hash and a signature.")
    return _Signature(name, decoded[:4], decoded[4:])


def _check_characters(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise NoteError("The note is not valid UTF-8.") from None
    if "\r" in text:
        raise NoteError("The note holds a carriage return (CR): lines end with LF alone.")
    if any(ord(character) < 0x20 and character != "\n" for character in text):
        raise NoteError("The note holds a control character.")


def _check_key_name(name: str) -> None:
    if not name or "+" in name or any(character.isspace() for character in name):
        raise NoteError("A key name must be non-empty, without spaces or '+'.")


def _origin(line: str) -> str:
    if not line:
        raise NoteError("The checkpoint's origin line is empty.")
    if line != line.strip():
        raise NoteError("The checkpoint's origin starts or ends with a space.")
    return line


def _size(line: str) -> int:
    if not _DECIMAL.fullmatch(line):
        raise NoteError("The checkpoint's size is not a decimal number without leading zeros.")
    size = int(line)
    if size > _LARGEST_SIZE:
        raise NoteError("The checkpoint's size is too large.")
    return size


def _root(line: str) -> bytes:
    root = _strict_base64(line, "The checkpoint's root hash")
    if len(root) != _ROOT_BYTES:
        raise NoteError(f"The checkpoint's root hash is not {_ROOT_BYTES} bytes.")
    return root


def _strict_base64(encoded: str, what: str) -> bytes:
    """Standard base64 with padding, spelt the one way it encodes back."""
    try:
        decoded = base64.b64decode(encoded.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error):
        raise NoteError(f"{what} is not standard base64.") from None
    if base64.b64encode(decoded).decode("ascii") != encoded:
        raise NoteError(f"{what} is not standard base64.")
    return decoded
