"""The converter's sandbox on this machine's kernel: a process that has entered it
(portal.disarm.isolation.enter_sandbox, as the converter does before it reads a document)
cannot reach a socket this test listens on, cannot take more memory or CPU time than allowed,
and a process that cannot be isolated converts nothing.

Each probe is a small Python program run in a process of its own, as the converter is.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from portal.disarm.protocol import request_header
from portal.disarm.sandbox import stopped_by_signal
from portal.settings import DisarmSettings

PROBE = """
import json, socket, sys
from portal.disarm.isolation import SandboxUnavailable, enter_sandbox, network_interfaces
from portal.settings import DisarmSettings

settings = DisarmSettings(**json.loads(sys.argv[1]))
if sys.argv[2] == "sandboxed":
    try:
        enter_sandbox(settings, 0)
    except SandboxUnavailable:
        print("sandbox unavailable")
        sys.exit(0)
"""


def run_probe(body: str, *arguments: str, settings: dict[str, int] | None = None) -> str:
    program = PROBE + textwrap.dedent(body)
    ended = subprocess.run(
        [sys.executable, "-c", program, json.dumps(settings or {}), *arguments],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return f"{ended.returncode} {ended.stdout.strip()}"


CONNECT = """
try:
    socket.create_connection(("127.0.0.1", int(sys.argv[3])), timeout=5).close()
    print("connected")
except OSError:
    print("unreachable")
print(network_interfaces())
"""


def test_a_sandboxed_process_cannot_reach_even_a_socket_on_this_machine() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = str(listener.getsockname()[1])
        # The same probe outside the sandbox connects: the listener is there to be reached.
        assert run_probe(CONNECT, "open", port).startswith("0 connected")
        assert run_probe(CONNECT, "sandboxed", port) == "0 unreachable\n['lo']"


def test_a_sandboxed_process_cannot_take_more_memory_than_its_limit() -> None:
    allocate = """
    try:
        block = bytearray(600 * 1024 * 1024)
        print("allocated")
    except MemoryError:
        print("refused")
    """
    assert run_probe(allocate, "open") == "0 allocated"
    assert run_probe(allocate, "sandboxed", settings={"memory_mb": 256}) == "0 refused"


def test_a_sandboxed_process_is_stopped_when_its_cpu_time_runs_out() -> None:
    spin = """
    while True:
        pass
    """
    assert run_probe(spin, "sandboxed", settings={"cpu_seconds": 5}) == f"{-signal.SIGXCPU} "
    assert stopped_by_signal(signal.SIGXCPU) == "timeout"


def test_a_process_that_cannot_be_isolated_converts_nothing() -> None:
    """Root without its capabilities may not make a network namespace: the converter then
    answers "sandbox_unavailable" before it reads the document."""
    if os.getuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv, to take root's capabilities away")
    document = b"Hello"
    request = request_header("text/plain", len(document), DisarmSettings(), None) + document
    ended = subprocess.run(
        ["setpriv", "--bounding-set=-all", "--inh-caps=-all", sys.executable]
        + ["-m", "portal.disarm.child"],
        input=request,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert ended.stdout == b'{"code": "sandbox_unavailable", "length": 0}\n'
    # The same request from a process that can be isolated is converted.
    converted = subprocess.run(
        [sys.executable, "-m", "portal.disarm.child"],
        input=request,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert converted.stdout.endswith(b"\nHello")


def test_a_process_started_in_the_sandbox_dies_with_it_even_if_it_leaves_the_group() -> None:
    """What LibreOffice (or code a hostile document ran in it) starts cannot outlive the
    converter by calling setsid(): the converter's children are in a PID namespace whose init
    dies with the converter's process group."""
    marker = f"disarm-escape-{os.getpid()}"
    escape = f"""
    import subprocess
    daemon = (
        "import os, sys, time\\n"
        "if os.fork() == 0:\\n"
        "    os.setsid()\\n"
        "    time.sleep(600)\\n"
        "time.sleep(600)\\n"
    )
    subprocess.Popen([sys.executable, "-c", daemon, "{marker}"])
    print("started", flush=True)
    time.sleep(600)
    """
    program = PROBE.replace("import json,", "import json, time,") + textwrap.dedent(escape)
    probe = subprocess.Popen(
        [sys.executable, "-c", program, "{}", "sandboxed"],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert probe.stdout is not None and probe.stdout.readline() == "started\n"
        deadline = time.monotonic() + 30
        while len(_processes_with(marker)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(_processes_with(marker)) == 2  # the child and its setsid() grandchild
    finally:
        os.killpg(probe.pid, signal.SIGKILL)  # as make_safe does
        probe.wait()
        probe.stdout.close()  # type: ignore[union-attr]
    deadline = time.monotonic() + 10
    while _processes_with(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _processes_with(marker) == set()


def _processes_with(marker: str) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        try:
            if marker.encode() in (entry / "cmdline").read_bytes():
                found.add(int(entry.name))
        except OSError:  # not a process, or it has just gone
            continue
    return found
