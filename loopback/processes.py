"""Starting, waiting for and stopping the project's own commands in processes of their own,
each with its output in a log file."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

PROJECT_ROOT = Path(__file__).resolve().parents[1]


_HANDED_OUT: set[int] = set()
# Ports are handed out from below the system's ephemeral range (32768-60999 on Linux), which
# outgoing connections take their local ports from: a port found free there could be taken by
# a client connection before the service binds it. Each pytest-xdist worker has its own slice.
_FIRST_PORT, _LAST_PORT = 20_000, 32_000
_RANDOM = random.Random()  # noqa: S311 - port numbers, not secrets


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now, and never one this process was given before:
    two services asked for ports one after the other must not get the same one. It comes from
    this process's own slice of ports below the ephemeral range, so neither another test
    worker nor an outgoing connection takes it before the service binds it."""
    first, last = _port_slice()
    for _ in range(1000):
        port = _RANDOM.randrange(first, last)
        if port in _HANDED_OUT:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _HANDED_OUT.add(port)
        return port
    raise RuntimeError(f"no free port between {first} and {last}")


def _port_slice() -> tuple[int, int]:
    """[first, last) for this process: the whole range, or a pytest-xdist worker's share."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
    index = int(worker) if worker.isdigit() else 0
    width = (_LAST_PORT - _FIRST_PORT) // max(workers, 1)
    first = _FIRST_PORT + width * (index % max(workers, 1))
    return first, first + width


def wait_until(check: Callable[[], Any], timeout: float = 30, message: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {message or check}")


class ProjectProcess:
    """A project command in its own process, its output appended to a log file."""

    def __init__(self, command: list[str], environment: dict[str, str], log: Path) -> None:
        self.log = log
        with log.open("a") as output:
            self.process = subprocess.Popen(  # noqa: S603 - the project's own commands
                command, stdout=output, stderr=subprocess.STDOUT, env=environment, cwd=PROJECT_ROOT
            )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


class WorkerProcess(ProjectProcess):
    """`portal worker` in its own process, its output in a log file."""

    def __init__(self, environment: dict[str, str], log: Path, *arguments: str) -> None:
        super().__init__(portal_command("worker", *arguments), environment, log)

    def terminate(self, timeout: float = 30) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(timeout=10)

    def wait(self, timeout: float = 60) -> int:
        return self.process.wait(timeout=timeout)


def portal_command(*arguments: str) -> list[str]:
    return [sys.executable, "-m", "portal.cli", *arguments]


def gunicorn_command() -> list[str]:
    return [sys.executable, "-m", "gunicorn", "-c", "infra/gunicorn.conf.py"]


def run_portal(environment: dict[str, str], *arguments: str) -> str:
    """Run a `portal` command to the end; it must succeed. Returns what it printed."""
    finished = subprocess.run(  # noqa: S603 - the project's own command
        portal_command(*arguments), env=environment, cwd=PROJECT_ROOT, capture_output=True
    )
    if finished.returncode != 0:
        raise AssertionError(finished.stderr)
    return finished.stdout.decode(errors="replace")


def wait_for_http(url: str, process: ProjectProcess, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.process.poll() is not None:
            raise AssertionError(f"{url} stopped while starting:\n{log.read_text()[-3000:]}")
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} did not answer in {timeout}s:\n{log.read_text()[-3000:]}")


def log_tails(directory: Path) -> str:
    """The tail of every process's log in `directory`, for a failing run's message."""
    parts = []
    for log in sorted(directory.glob("*.log")):
        lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
        parts.append(f"--- {log.name}\n" + "\n".join(lines[-30:]))
    return "\n".join(parts)


def logs_with_tracebacks(directory: Path, names: tuple[str, ...]) -> list[str]:
    """Those of the named log files (the portal's own processes') that hold a traceback."""
    return [
        name
        for name in names
        if "Traceback" in (directory / name).read_text(encoding="utf-8", errors="replace")
    ]
