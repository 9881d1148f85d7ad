"""Text files: decoded as UTF-8 and written again as UTF-8, with no control characters.

A byte order mark at the start is dropped (UTF-8 needs none). Control characters other than tab,
line feed and carriage return (C0, DEL and C1: terminal escapes among them) become U+FFFD, the
replacement character, so the reader sees that something was there. A NUL or bytes that are not
UTF-8 make the file unreadable (the upload's type check already refuses both).
"""

from __future__ import annotations

import re

from portal.disarm.outcome import UNREADABLE, CouldNotMakeSafe, SafeCopy

CONTENT_TYPE = "text/plain"
_BOM = "\ufeff"
_CONTROL = re.compile("[\x01-\x08\x0b-\x0c\x0e-\x1f\x7f-\x9f]")


def rebuild_text(plaintext: bytes) -> SafeCopy:
    if b"\x00" in plaintext:
        raise CouldNotMakeSafe(UNREADABLE)
    try:
        text = plaintext.decode("utf-8")
    except UnicodeDecodeError:
        raise CouldNotMakeSafe(UNREADABLE) from None
    text = text.removeprefix(_BOM)
    text = _CONTROL.sub("\ufffd", text)
    return SafeCopy(content=text.encode("utf-8"), content_type=CONTENT_TYPE, pages=None)
