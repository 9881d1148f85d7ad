"""Text files: decoded as UTF-8 and written again as UTF-8, with no control characters.

A byte order mark at the start is dropped (UTF-8 needs none). Control characters other than tab,
line feed and carriage return (C0, DEL and C1: terminal escapes among them) and the
bidirectional embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069: they make
"invoice\u202egnp.exe" read as "invoiceexe.png") become U+FFFD, the replacement character, so
the reader sees that something was there. A NUL or bytes that are not UTF-8 make the file
unreadable (the upload's type check already refuses both).

The converter cleans the text, and the worker cleans what the converter sent again
(portal.disarm.assembly): the same function on both sides of the trust boundary.
"""

from __future__ import annotations

import re

from portal.disarm.outcome import UNREADABLE, CouldNotMakeSafe

CONTENT_TYPE = "text/plain"
_BOM = "\ufeff"
_CONTROL = re.compile("[\x01-\x08\x0b-\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def clean_text(plaintext: bytes) -> bytes:
    """`plaintext` as clean UTF-8, or CouldNotMakeSafe("unreadable")."""
    if b"\x00" in plaintext:
        raise CouldNotMakeSafe(UNREADABLE)
    try:
        text = plaintext.decode("utf-8")
    except UnicodeDecodeError:
        raise CouldNotMakeSafe(UNREADABLE) from None
    text = text.removeprefix(_BOM)
    return _CONTROL.sub("\ufffd", text).encode("utf-8")
