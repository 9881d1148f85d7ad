"""Run a command on a pseudo-terminal, as a person's terminal would show it."""

from __future__ import annotations

import os
import pty
import subprocess

from loopback.processes import PROJECT_ROOT


def on_a_pty(arguments: list[str], environment: dict[str, str]) -> tuple[int, str]:
    """The command's exit code and everything it wrote (stdout and stderr both) to a pty,
    read until it closes the terminal, not only the first piece."""
    reader, writer = pty.openpty()
    process = subprocess.Popen(  # noqa: S603 - the project's own command
        arguments, stdin=writer, stdout=writer, stderr=writer, env=environment, cwd=PROJECT_ROOT
    )
    os.close(writer)
    shown = b""
    while True:
        try:
            chunk = os.read(reader, 65536)
        except OSError:  # EIO: the command has closed the terminal
            break
        if not chunk:
            break
        shown += chunk
    os.close(reader)
    return process.wait(timeout=120), shown.decode(errors="replace")
