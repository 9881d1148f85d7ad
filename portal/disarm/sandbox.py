"""The caller's side: start the converter process, hand it the document, take its answer.

The converter (`python -m portal.disarm.child`) is started by bubblewrap, confined
(portal.disarm.bubblewrap), with no descriptor but its two pipes and a minimal environment.
bubblewrap starts in a session and process group of its own, and is the first process of the
converter's PID namespace: killing that group kills every process in the sandbox, LibreOffice
and anything that left the group with setsid() included. The document goes in through one pipe
and the answer comes out through another, both served together without blocking, so that
neither side can stall on a full pipe; the answer is handed to the caller's `receive` as it
arrives (never gathered here). The whole exchange has a deadline of `wall_seconds`:
when it passes, or once the converter has answered, the process group is killed, and
bubblewrap is reaped with its resource usage (the converter's peak memory and CPU time).
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from portal.disarm.bubblewrap import sandbox_command, sandbox_works
from portal.disarm.isolation import SandboxUnavailable
from portal.disarm.outcome import CONVERTER_FAILED, MEMORY, SANDBOX_UNAVAILABLE, TIMEOUT
from portal.settings import DisarmSettings

_CHUNK = 256 * 1024
# How the exchange ended: the converter closed its answer, the caller wanted no more of it, or
# the time ran out.
ANSWERED, STOPPED, DEADLINE = "answered", "stopped", "deadline"
# How long a converter that has answered is given to exit before its group is killed.
EXIT_GRACE_SECONDS = 5
_ENVIRONMENT = ("PATH", "PYTHONPATH", "LANG", "LC_ALL", "TZ")
# bubblewrap ends with 1 when it cannot make the sandbox, and with 128 plus the signal's number
# when the converter was killed by a signal.
_BWRAP_FAILED = 1
_SIGNALLED = 128


@dataclass(frozen=True)
class Exchange:
    """How the exchange and the converter ended, and the converter's peak memory."""

    timed_out: bool
    exit_status: int
    peak_memory_bytes: int
    cpu_exhausted: bool = False
    sandbox_failed: bool = False

    def failure(self) -> str:
        """The code for a converter that stopped before it answered in full."""
        if self.timed_out:
            return TIMEOUT
        if self.sandbox_failed:
            return SANDBOX_UNAVAILABLE
        code = os.waitstatus_to_exitcode(self.exit_status)
        if code > _SIGNALLED:  # bubblewrap's report of the converter's signal
            return stopped_by_signal(code - _SIGNALLED, self.cpu_exhausted)
        if code < 0:
            return stopped_by_signal(-code, self.cpu_exhausted)
        return CONVERTER_FAILED


def stopped_by_signal(signal_number: int, cpu_exhausted: bool = False) -> str:
    """Why a converter process was killed by a signal that was not ours.

    Its CPU time ran out (SIGXCPU at the soft limit; SIGKILL at the hard one, told from the
    out-of-memory killer's SIGKILL by `cpu_exhausted`, the CPU time used reaching the limit);
    or it aborted: PDFium and LibreOffice abort when an allocation fails under the address
    space limit (std::bad_alloc, or PDFium's own out-of-memory end), so SIGABRT, and SIGKILL
    with CPU time to spare, count as running out of memory. Any other crash (SIGSEGV, say) is
    "converter_failed".
    """
    if signal_number == signal.SIGXCPU or (signal_number == signal.SIGKILL and cpu_exhausted):
        return TIMEOUT
    if signal_number in (signal.SIGKILL, signal.SIGABRT):
        return MEMORY
    return CONVERTER_FAILED


def exchange(
    request: list[bytes],
    settings: DisarmSettings,
    receive: Callable[[bytes], bool],
    directory: Path | None,
) -> Exchange:
    """Run the converter on `request` (its parts written in turn, never joined: a document may
    be large), writing only in `directory`, handing each piece of its answer to `receive`; stop
    once that returns False."""
    deadline = time.monotonic() + settings.wall_seconds
    stdin_read, stdin_write = os.pipe()
    stdout_read, stdout_write = os.pipe()
    try:
        pid = _spawn(sandbox_command(settings, directory), stdin_read, stdout_write)
    except OSError:
        for descriptor in (stdin_read, stdin_write, stdout_read, stdout_write):
            os.close(descriptor)
        raise SandboxUnavailable("the converter process could not be started") from None
    os.close(stdin_read)
    os.close(stdout_write)
    answered = _Answered(receive)
    try:
        ended = _serve(stdin_write, stdout_read, request, deadline, answered)
        if ended == ANSWERED:
            # Its answer is complete: a moment to exit, never past the deadline.
            _exited_by(pid, min(deadline, time.monotonic() + EXIT_GRACE_SECONDS))
    finally:
        os.close(stdout_read)
        # The converter's group goes, whatever happened: LibreOffice left behind included.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        _, status, usage = os.wait4(pid, 0)
    return Exchange(
        timed_out=ended == DEADLINE,
        exit_status=status,
        peak_memory_bytes=usage.ru_maxrss * 1024,
        cpu_exhausted=usage.ru_utime + usage.ru_stime >= settings.cpu_seconds,
        sandbox_failed=_sandbox_failed(answered.anything, status, settings),
    )


def _spawn(command: list[str], stdin: int, stdout: int) -> int:
    """Start `command` in a session of its own with the two pipes as its standard input and
    output, nothing on its standard error, no other descriptor, and a minimal environment:
    Python writes no bytecode (the code is read-only in the sandbox) and temporary files go to
    the sandbox's own /tmp."""
    environment = {name: os.environ[name] for name in _ENVIRONMENT if name in os.environ}
    environment.setdefault("LANG", "C.UTF-8")
    environment |= {"PYTHONDONTWRITEBYTECODE": "1", "TMPDIR": "/tmp", "HOME": "/tmp"}  # noqa: S108
    process = subprocess.Popen(  # noqa: S603 (the program and arguments are the portal's own)
        command,
        stdin=stdin,
        stdout=stdout,
        stderr=subprocess.DEVNULL,
        close_fds=True,
        env=environment,
        start_new_session=True,
    )
    # The caller reaps it with os.wait4 (for its resource usage): Popen is not to wait too.
    process.returncode = 0
    return process.pid


def _sandbox_failed(answered: bool, status: int, settings: DisarmSettings) -> bool:
    """Whether the converter never started because bubblewrap could not make its sandbox: it
    then ends with 1 having written nothing, which a converter crashing at its start may do too,
    so bubblewrap is asked again, with nothing to run."""
    if answered or os.waitstatus_to_exitcode(status) != _BWRAP_FAILED:
        return False
    return not sandbox_works(settings)


def _serve(
    stdin: int,
    stdout: int,
    request: list[bytes],
    deadline: float,
    receive: Callable[[bytes], bool],
) -> str:
    """Write `request` and read the answer together until the answer ends (ANSWERED),
    `receive` wants no more (STOPPED) or the deadline passes (DEADLINE). Closes `stdin`."""
    unsent = _Unsent(request)
    os.set_blocking(stdin, False)
    os.set_blocking(stdout, False)
    with selectors.DefaultSelector() as selector:
        selector.register(stdout, selectors.EVENT_READ)
        selector.register(stdin, selectors.EVENT_WRITE)
        try:
            while (remaining := deadline - time.monotonic()) > 0:
                for key, _events in selector.select(remaining):
                    if key.fd == stdin:
                        if unsent.write_some(stdin):
                            selector.unregister(stdin)
                            unsent.close(stdin)
                        continue
                    chunk = os.read(stdout, _CHUNK)
                    if not chunk:
                        return ANSWERED
                    if not receive(chunk):
                        return STOPPED
            return DEADLINE
        finally:
            unsent.close(stdin)


class _Answered:
    """The caller's `receive`, noting whether the converter wrote anything at all."""

    def __init__(self, receive: Callable[[bytes], bool]) -> None:
        self._receive = receive
        self.anything = False

    def __call__(self, chunk: bytes) -> bool:
        self.anything = True
        return self._receive(chunk)


class _Unsent:
    """What remains of the request, written a piece at a time as the pipe takes it."""

    def __init__(self, parts: list[bytes]) -> None:
        self._parts = [memoryview(part) for part in parts if part]
        self._closed = False

    def write_some(self, stdin: int) -> bool:
        """Write what the pipe takes now; True once all is written (or no longer wanted)."""
        if self._parts:
            try:
                written = os.write(stdin, self._parts[0][:_CHUNK])
            except BrokenPipeError:  # the converter stopped reading: its answer says why
                self._parts.clear()
                return True
            self._parts[0] = self._parts[0][written:]
            if not self._parts[0]:
                self._parts.pop(0)
        return not self._parts

    def close(self, stdin: int) -> None:
        if not self._closed:
            self._closed = True
            os.close(stdin)


def _exited_by(pid: int, deadline: float) -> bool:
    """Whether the converter has exited by the deadline (it stays unreaped until wait4)."""
    while True:
        if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.01)
