"""The converter process: `python -m portal.disarm.child`, started by portal.disarm.sandbox.

It starts confined (portal.disarm.bubblewrap), reads the request's header from standard input,
checks its sandbox and sets its limits (portal.disarm.isolation), and only then reads the
document, converts it and writes the answer to standard output: raw pixels or text, record by
record (portal.disarm.protocol), from which the worker builds the safe copy itself. Nothing it
reads is written anywhere else (LibreOffice's working files stay in the sandbox's private
directory in memory, removed at the end: portal.disarm.office).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import BinaryIO

from pydantic import ValidationError

from portal.disarm.isolation import SandboxUnavailable, enter_sandbox
from portal.disarm.outcome import (
    CONVERTER_FAILED,
    MEMORY,
    SANDBOX_UNAVAILABLE,
    CouldNotMakeSafe,
)
from portal.disarm.protocol import Answer, ProtocolError, read_header
from portal.disarm.rebuild import convert
from portal.settings import DisarmSettings


def main() -> int:
    source, sink = sys.stdin.buffer, sys.stdout.buffer
    try:
        header = read_header(source)
        settings = DisarmSettings.model_validate(header["settings"])
        media_type = str(header["media_type"])
        directory = Path(header["directory"]) if header.get("directory") else None
    except (ProtocolError, ValidationError, KeyError):
        return _fail(sink, CONVERTER_FAILED)
    try:
        enter_sandbox(settings, header["length"])
    except SandboxUnavailable:
        return _fail(sink, SANDBOX_UNAVAILABLE)
    try:
        plaintext = source.read(header["length"])
        if len(plaintext) != header["length"]:
            return _fail(sink, CONVERTER_FAILED)
        convert(plaintext, media_type, settings, directory, Answer(sink))
    except CouldNotMakeSafe as refusal:
        return _fail(sink, refusal.code)
    except MemoryError:
        return _fail(sink, MEMORY)
    return 0


def _fail(sink: BinaryIO, code: str) -> int:
    Answer(sink).fail(code)
    return 0


if __name__ == "__main__":
    sys.exit(main())
