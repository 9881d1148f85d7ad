"""The converter's sandbox on this machine's kernel: its limits hold and are reported as what
they are, nothing it starts outlives it, nothing of a conversion is left in the real /tmp, and a
converter that cannot be confined converts nothing.

What it can reach: test_disarm_sandbox.py.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from portal.attachments import sniffing
from portal.disarm import CouldNotMakeSafe, bubblewrap, engine, make_safe, office, sandbox
from portal.disarm.protocol import request_header
from portal.settings import DisarmSettings
from tests.support import disarm_inputs as inputs
from tests.support.sandbox_probes import ENVIRONMENT, probe_command, processes_with, run_probe


@pytest.fixture(autouse=True, scope="module")
def bubblewrap_installed() -> None:
    if not bubblewrap.BWRAP.exists():
        message = "bubblewrap is not installed (make bubblewrap)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message}; CI=true requires it", pytrace=False)
        pytest.skip(message)


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


def test_a_sandboxed_process_has_its_limits() -> None:
    limits = """
    with open("/proc/self/limits", encoding="ascii") as table:
        rows = {line[:26].strip(): line[26:].split()[:2] for line in table.read().splitlines()}
    for name in ("Max processes", "Max open files", "Max core file size", "Max cpu time"):
        print(name, *rows[name], end="; ")
    """
    expected = "Max processes 256 256; Max open files 512 512; Max core file size 0 0; "
    assert run_probe(limits, "sandboxed", settings={"cpu_seconds": 7}) == (
        f"0 {expected}Max cpu time 7 12;"
    )


def test_a_sandboxed_process_is_stopped_when_its_cpu_time_runs_out() -> None:
    spin = """
    while True:
        pass
    """
    # bubblewrap ends as its converter did: 128 plus the signal's number.
    assert run_probe(spin, "sandboxed", settings={"cpu_seconds": 5}) == f"{128 + signal.SIGXCPU} "


def converter_ending(body: str, settings: DisarmSettings, monkeypatch: pytest.MonkeyPatch) -> str:
    """The code make_safe's caller side gives a converter that runs `body` instead."""
    command = probe_command(body, "sandboxed", settings={"cpu_seconds": settings.cpu_seconds})
    monkeypatch.setattr(sandbox, "sandbox_command", lambda _settings, _directory: command)
    return sandbox.exchange([b"ignored"], settings, 1024, None).failure()


def test_a_converter_killed_at_its_cpu_hard_limit_timed_out_and_one_killed_sooner_ran_out_of_memory(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """SIGKILL comes from RLIMIT_CPU's hard limit (SIGXCPU ignored) or from the out-of-memory
    killer: the CPU time used tells them apart."""
    settings = DisarmSettings(cpu_seconds=5, wall_seconds=60)
    ignore_and_spin = """
    import signal
    signal.signal(signal.SIGXCPU, signal.SIG_IGN)
    while True:
        pass
    """
    assert converter_ending(ignore_and_spin, settings, monkeypatch) == "timeout"
    killed = """
    import signal
    os.kill(os.getpid(), signal.SIGKILL)
    """
    assert converter_ending(killed, settings, monkeypatch) == "memory"


def test_a_converter_that_is_not_confined_converts_nothing() -> None:
    """Started any other way than in its sandbox (here: directly), the converter answers
    "sandbox_unavailable" before it reads the document."""
    document = b"Hello"
    request = request_header("text/plain", len(document), DisarmSettings(), None) + document
    ended = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "portal.disarm.child"],
        input=request,
        capture_output=True,
        timeout=60,
        env=ENVIRONMENT,
        check=False,
    )
    assert ended.stdout == b'{"code": "sandbox_unavailable", "length": 0}\n'
    assert make_safe(document, "text/plain", DisarmSettings()).content == document


def test_without_bubblewrap_nothing_is_converted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bubblewrap, "BWRAP", Path("/nonexistent/bwrap"))
    with pytest.raises(CouldNotMakeSafe) as refused:
        make_safe(b"Hello", "text/plain", DisarmSettings())
    assert refused.value.code == "sandbox_unavailable"


MAKE_SAFE = """
import sys
from portal.disarm import CouldNotMakeSafe, make_safe
from portal.settings import DisarmSettings
try:
    print(make_safe(b"Hello", "text/plain", DisarmSettings()).content.decode())
except CouldNotMakeSafe as refused:
    print(refused.code)
"""


def test_where_bubblewrap_cannot_make_its_namespaces_nothing_is_converted() -> None:
    """In a user namespace that may make no more of them (as a host with user namespaces
    switched off), make_safe says "sandbox_unavailable"; with them allowed, it converts."""
    if shutil.which("unshare") is None:
        pytest.skip("needs util-linux's unshare")
    python = f"{sys.executable} -c '{MAKE_SAFE}'"
    answers = []
    for allowed in ("100", "0"):
        limit = f"echo {allowed} > /proc/sys/user/max_user_namespaces"
        ended = subprocess.run(  # noqa: S603
            ["unshare", "--user", "--map-root-user", "sh", "-c", f"{limit} && {python}"],
            capture_output=True,
            text=True,
            timeout=60,
            env=ENVIRONMENT,
            check=False,
        )
        answers.append(ended.stdout.strip())
    assert answers == ["Hello", "sandbox_unavailable"]


def test_a_process_started_in_the_sandbox_dies_with_it_even_if_it_leaves_the_group() -> None:
    """What LibreOffice (or code a hostile document ran in it) starts cannot outlive the
    converter by calling setsid(): bubblewrap is the first process of the sandbox's PID
    namespace, in the converter's process group, and when it dies the kernel kills every
    process in the namespace."""
    marker = f"disarm-escape-{os.getpid()}"
    daemons = f"{marker}-daemon"  # on the daemons' command lines only
    escape = f"""
    import subprocess
    daemon = (
        "import os, sys, time\\n"
        "if os.fork() == 0:\\n"
        "    os.setsid()\\n"
        "    time.sleep(600)\\n"
        "time.sleep(600)\\n"
    )
    subprocess.Popen([sys.executable, "-c", daemon, "{marker}" + "-daemon"])
    print("started", flush=True)
    time.sleep(600)
    """
    probe = subprocess.Popen(  # noqa: S603
        probe_command(textwrap.dedent(escape), "sandboxed"),
        stdout=subprocess.PIPE,
        text=True,
        env=ENVIRONMENT,
        start_new_session=True,
    )
    try:
        assert probe.stdout is not None and probe.stdout.readline() == "started\n"
        deadline = time.monotonic() + 30
        while len(processes_with(daemons)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(processes_with(daemons)) == 2  # the child and its setsid() grandchild
    finally:
        os.killpg(probe.pid, signal.SIGKILL)  # as make_safe does
        probe.wait()
        probe.stdout.close()  # type: ignore[union-attr]
    deadline = time.monotonic() + 10
    while processes_with(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert processes_with(marker) == set()  # bubblewrap, the probe and both daemons


@pytest.fixture
def private_directories(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Each private directory make_safe makes for LibreOffice, which names it on its command
    line (other tests on this machine may be running LibreOffice at the same time)."""
    made: list[Path] = []

    @contextlib.contextmanager
    def recorded() -> Iterator[Path]:
        with office.private_directory() as directory:
            made.append(directory)
            yield directory

    monkeypatch.setattr(engine, "private_directory", recorded)
    return made


def _libreoffice_processes(directories: list[Path]) -> set[int]:
    # LibreOffice's processes name the private directory and soffice; bubblewrap only the first.
    named = {pid for directory in directories for pid in processes_with(str(directory))}
    return named & processes_with("soffice")


def _temporary_files(pid: int) -> set[str]:
    """LibreOffice's temporary directories (lu*.tmp) and pipe sockets (OSL_PIPE_*) in the /tmp
    process `pid` sees."""
    try:
        names = os.listdir(f"/proc/{pid}/root/tmp")
    except OSError:  # it has just gone
        return set()
    return {name for name in names if name.startswith(("lu", "OSL_PIPE_"))}


def test_nothing_of_a_conversion_reaches_the_real_tmp_even_when_it_is_killed(
    private_directories: list[Path],
) -> None:
    """LibreOffice writes the document's conversion into lu*.tmp under TMPDIR and leaves them
    (and OSL_PIPE_* sockets) behind when killed. Its /tmp, watched through a conversion that
    ends normally and one killed at the time limit, is the sandbox's own: what it writes there
    never appears in the real /tmp."""
    if shutil.which("soffice") is None:
        pytest.skip("LibreOffice is not installed (make libreoffice)")
    real_tmp = os.stat("/tmp")  # noqa: S108
    written: set[str] = set()  # in LibreOffice's /tmp
    appeared: set[str] = set()  # in the real /tmp
    roots: set[int] = set()  # LibreOffice's /tmp
    done = threading.Event()

    def watch() -> None:
        while not done.wait(0.02):
            appeared.update(os.listdir("/tmp"))  # noqa: S108
            for pid in _libreoffice_processes(private_directories):
                written.update(_temporary_files(pid))
                with contextlib.suppress(OSError):
                    roots.add(os.stat(f"/proc/{pid}/root/tmp").st_ino)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        copy = make_safe(inputs.docx(["A short letter"]), sniffing.DOCX, DisarmSettings())
        slow = inputs.docx([f"Paragraph {number} of a long report" for number in range(80_000)])
        with pytest.raises(CouldNotMakeSafe) as killed:
            make_safe(slow, sniffing.DOCX, DisarmSettings(wall_seconds=5))
    finally:
        done.set()
        watcher.join()
    assert copy.pages == 1
    assert killed.value.code == "timeout"
    assert {name for name in written if name.startswith("lu")}  # LibreOffice wrote them
    assert roots and real_tmp.st_ino not in roots
    assert written & (appeared | set(os.listdir("/tmp"))) == set()  # noqa: S108
