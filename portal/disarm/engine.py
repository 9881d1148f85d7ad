"""make_safe: a document's safe copy, built here from the pixels (or text) that a converter
process in a sandbox gets out of it.

The converter parses the hostile document and answers with raw pixels and text only; this side
trusts none of it: it checks the answer (portal.disarm.answer) and builds the copy itself
(portal.disarm.assembly). The caller blocks until the converter answers or its time runs out:
only the disarm worker calls this, never a web process.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from pathlib import Path

from portal.disarm.answer import AnswerReader
from portal.disarm.isolation import SandboxUnavailable
from portal.disarm.kinds import OFFICE_EXTENSIONS, SUPPORTED
from portal.disarm.office import private_directory
from portal.disarm.outcome import (
    CONVERTER_MISSING,
    SANDBOX_UNAVAILABLE,
    CouldNotMakeSafe,
    SafeCopy,
)
from portal.disarm.protocol import request_header
from portal.disarm.sandbox import exchange
from portal.settings import DisarmSettings


def make_safe(plaintext: bytes, media_type: str, settings: DisarmSettings) -> SafeCopy:
    """The safe copy of `plaintext` (a file of `media_type`), or CouldNotMakeSafe(code)."""
    if media_type not in SUPPORTED and media_type not in OFFICE_EXTENSIONS:
        raise CouldNotMakeSafe(CONVERTER_MISSING)
    reader = AnswerReader(media_type, settings)
    with _workspace(media_type) as directory:
        request = [request_header(media_type, len(plaintext), settings, directory), plaintext]
        try:
            done = exchange(request, settings, reader.feed, directory)
        except SandboxUnavailable:
            raise CouldNotMakeSafe(SANDBOX_UNAVAILABLE) from None
    # An answer cut short: how the converter ended says why.
    copy = reader.safe_copy(converter_ended=done.failure())
    return dataclasses.replace(copy, peak_memory_bytes=done.peak_memory_bytes)


@contextlib.contextmanager
def _workspace(media_type: str) -> Iterator[Path | None]:
    # An office document's private directory is made and removed here, not in the converter
    # process, so that it goes even when that process is killed.
    if media_type not in OFFICE_EXTENSIONS:
        yield None
        return
    try:
        with private_directory() as directory:
            yield directory
    except OSError:
        raise CouldNotMakeSafe(SANDBOX_UNAVAILABLE) from None
