"""TEMPORARY stand-in (the lead's); replaced by the witness helper's module at merge."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization

from portal.audit.signing import CheckpointSigner, PublicKey


class NoteError(Exception):
    pass


@dataclass(frozen=True)
class CheckpointBody:
    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def text(self) -> str:
        lines = [
            self.origin,
            str(self.size),
            base64.b64encode(self.root).decode(),
            *self.extensions,
        ]
        return "".join(f"{line}\n" for line in lines)

    @classmethod
    def parse(cls, text: str) -> CheckpointBody:
        lines = text.split("\n")
        if len(lines) < 4 or lines[-1] != "":
            raise NoteError("not a checkpoint")
        return cls(lines[0], int(lines[1]), base64.b64decode(lines[2]), tuple(lines[3:-1]))


@dataclass(frozen=True)
class OpenedNote:
    body: CheckpointBody
    key_id: str
    text: str


def _raw(public: PublicKey) -> bytes:
    return public.key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_hash(name: str, public: PublicKey) -> bytes:
    return hashlib.sha256(name.encode() + b"\n\x01" + _raw(public)).digest()[:4]


def verifier_key(name: str, public: PublicKey) -> str:
    encoded = base64.b64encode(bytes([1]) + _raw(public)).decode()
    return f"{name}+{key_hash(name, public).hex()}+{encoded}"


def sign_note(body: CheckpointBody, signer: CheckpointSigner, name: str) -> str:
    text = body.text()
    signature = key_hash(name, signer.public) + signer.sign(text.encode())
    return f"{text}\n\u2014 {name} {base64.b64encode(signature).decode()}\n"


def open_note(note: str, keys: Iterable[tuple[str, PublicKey]]) -> OpenedNote:
    text, _, signatures = note.partition("\n\n")
    text += "\n"
    for line in signatures.splitlines():
        _, name, value = line.split(" ")
        raw = base64.b64decode(value)
        for known, key in keys:
            if (
                known == name
                and raw[:4] == key_hash(name, key)
                and key.verifies(text.encode(), raw[4:])
            ):
                return OpenedNote(CheckpointBody.parse(text), key.key_id, note)
    raise NoteError("no trusted signature")
