"""The web worker's side of reading an uploaded PDF: run `python -m portal.receipts.extract`
(which bounds its own memory and CPU time before it reads anything), hand it the upload on its
standard input, take the two files from its standard output, within a wall-clock deadline.

As with the document converter (portal.disarm.sandbox), the child has no descriptor but its
pipes, a minimal environment and a session of its own; unlike it, it needs no bubblewrap: it
only parses, writes nothing and is killed when the deadline passes. A child that dies, runs
out of time or answers anything unexpected is "could not be read", never an error page.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import subprocess
import sys
import threading
from dataclasses import dataclass

from portal.receipts import extract

WALL_SECONDS = 5
# PDFs one web worker reads at once, each in a child of up to extract.MEMORY_BYTES: the rate
# limit is per address, so without this many addresses at once could start a child each. A
# check that finds every place taken waits a moment, then is told to try again.
AT_ONCE = 2
WAIT_SECONDS = 2
_PLACES = threading.BoundedSemaphore(AT_ONCE)
# The child's answer: the receipt and content base64-encoded, and a little JSON.
_ANSWER_CAP = 2 * extract.MAX_UPLOAD_BYTES
_ENVIRONMENT = ("PATH", "PYTHONPATH", "LANG", "LC_ALL", "TZ")


@dataclass(frozen=True)
class Extracted:
    receipt: bytes | None
    content: bytes | None
    error: str | None  # one of extract's codes, or extract.UNREADABLE when the child failed


def read_pdf(data: bytes) -> Extracted:
    """The receipt and content files an uploaded PDF carries, read in a bounded child; no more
    than AT_ONCE children at a time from this process."""
    if not _PLACES.acquire(timeout=WAIT_SECONDS):
        return Extracted(None, None, extract.BUSY)
    try:
        return _read_in_child(data)
    finally:
        _PLACES.release()


def _read_in_child(data: bytes) -> Extracted:
    environment = {name: os.environ[name] for name in _ENVIRONMENT if name in os.environ}
    environment["PYTHONDONTWRITEBYTECODE"] = "1"
    try:
        finished = subprocess.run(  # noqa: S603 - the portal's own module, no shell
            [sys.executable, "-m", "portal.receipts.extract"],
            input=data,
            capture_output=True,
            timeout=WALL_SECONDS,
            close_fds=True,
            env=environment,
            start_new_session=True,
            cwd=_ROOT,
            check=False,
        )
    except (subprocess.TimeoutExpired, OSError):
        return _failed()
    if finished.returncode != 0 or len(finished.stdout) > _ANSWER_CAP:
        return _failed()
    return _answer(finished.stdout)


def _answer(output: bytes) -> Extracted:
    try:
        answer = json.loads(output)
        if not isinstance(answer, dict):
            return _failed()
        if "error" in answer:
            return Extracted(None, None, str(answer["error"]))
        return Extracted(_decoded(answer["receipt"]), _decoded(answer.get("content")), None)
    except (ValueError, KeyError, TypeError, binascii.Error):
        return _failed()


def _decoded(value: object) -> bytes | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError("not base64")
    return base64.b64decode(value, validate=True)


def _failed() -> Extracted:
    return Extracted(None, None, extract.UNREADABLE)


# The directory holding the portal package, so `-m` finds it whatever the worker's directory.
_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(extract.__file__))))
