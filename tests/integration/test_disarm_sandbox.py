"""What the converter's sandbox lets it reach, on this machine's kernel: each probe runs
confined exactly as the converter is (bubblewrap, portal.disarm.bubblewrap) and, to show there
was something to reach, the same probe runs unconfined.

Its limits, its processes and failing closed: test_disarm_sandbox_limits.py.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from portal.disarm import sandbox
from portal.disarm.bubblewrap import BWRAP, confinement
from portal.settings import DisarmSettings
from tests.support.sandbox_probes import probe_command, project_root, run_probe


@pytest.fixture(autouse=True, scope="module")
def bubblewrap() -> None:
    if not BWRAP.exists():
        message = "bubblewrap is not installed (make bubblewrap)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message}; CI=true requires it", pytrace=False)
        pytest.skip(message)


@contextlib.contextmanager
def directory_in(parent: Path) -> Iterator[Path]:
    made = Path(tempfile.mkdtemp(prefix="disarm-sandbox-test-", dir=parent))
    try:
        yield made
    finally:
        shutil.rmtree(made, ignore_errors=True)


CONNECT = """
for address in sys.argv[3:]:
    family = socket.AF_INET if address[0].isdigit() else socket.AF_UNIX
    target = (address, 5432) if family == socket.AF_INET else address.replace("@", "\\0", 1)
    try:
        with socket.socket(family, socket.SOCK_STREAM) as client:
            client.settimeout(5)
            client.connect(target)
        print("connected", end=" ")
    except OSError:
        print("unreachable", end=" ")
"""


def test_a_sandboxed_process_cannot_reach_a_socket_outside_it() -> None:
    """Not a Unix socket in the project (where instance/ is) nor an abstract one (D-Bus's
    kind), not PostgreSQL's own socket, nor a TCP port on this machine's 127.0.0.1."""
    with contextlib.ExitStack() as listening, directory_in(project_root()) as project:
        path = project / "outside.sock"
        abstract = f"@portal-disarm-test-{os.getpid()}"
        tcp = listening.enter_context(socket.create_server(("127.0.0.1", 0)))
        for address in (str(path), abstract.replace("@", "\0", 1)):
            server = listening.enter_context(socket.socket(socket.AF_UNIX, socket.SOCK_STREAM))
            server.bind(address)
            server.listen()
        port = tcp.getsockname()[1]
        connect = CONNECT.replace("(address, 5432)", f"(address, {port})")
        targets = [str(path), abstract, "127.0.0.1"]
        assert run_probe(connect, "open", *targets) == "0 connected connected connected"
        assert run_probe(connect, "sandboxed", *targets) == "0 unreachable unreachable unreachable"
    postgres = Path("/run/postgresql/.s.PGSQL.5432")
    if postgres.exists():
        assert run_probe(CONNECT, "open", str(postgres)) == "0 connected"
        assert run_probe(CONNECT, "sandboxed", str(postgres)) == "0 unreachable"


READ = """
found = []
for path in sys.argv[4:]:
    try:
        with open(path, encoding="utf-8") as secret:
            found.append(secret.read())
    except OSError:
        found.append("unreadable")
project = sys.argv[3]
print(json.dumps({"read": found, "project": sorted(os.listdir(project))}))
"""


def test_a_sandboxed_process_cannot_read_the_project_home_or_configuration() -> None:
    """Files the worker's user can read: one in the project directory (where instance/ keeps
    the keys and the document store), one in its home, and one of /etc's."""
    root = project_root()
    with directory_in(root) as project, directory_in(Path.home()) as home:
        (project / "key").write_text("project-secret")
        (home / "key").write_text("home-secret")
        targets = [str(root), str(project / "key"), str(home / "key"), "/etc/hostname"]
        hostname = Path("/etc/hostname").read_text()
        opened = json.loads(run_probe(READ, "open", *targets).split(" ", 1)[1])
        confined = json.loads(run_probe(READ, "sandboxed", *targets).split(" ", 1)[1])
    assert opened["read"] == ["project-secret", "home-secret", hostname]
    assert project.name in opened["project"]
    assert confined["read"] == ["unreadable"] * 3
    # Of the project directory only the package (and a virtual environment in it) is there.
    assert "portal" in confined["project"]
    assert set(confined["project"]) <= {"portal", ".venv"}


WRITE = """
written = []
for path in sys.argv[3:]:
    try:
        with open(path, "x", encoding="utf-8") as attempt:
            attempt.write("written")
        written.append(path)
    except OSError:
        pass
print(json.dumps(written))
"""


def test_a_sandboxed_process_writes_only_in_its_private_directory(tmp_path: Path) -> None:
    """Its own /tmp takes files too, but they are in memory and go with the sandbox: not one
    reaches the real /tmp."""
    marker = f"disarm-sandbox-test-{os.getpid()}"
    package = project_root() / "portal"
    with directory_in(Path("/dev/shm")) as private:  # noqa: S108 (as portal.disarm.office's)
        targets = [
            str(private / marker),
            f"/tmp/{marker}",  # noqa: S108
            str(package / marker),
            str(tmp_path / marker),
            f"/usr/{marker}",
            f"/etc/{marker}",
            str(Path.home() / marker),
        ]
        confined = run_probe(WRITE, "sandboxed", *targets, directory=private)
        assert json.loads(confined.split(" ", 1)[1]) == targets[:2]
        assert (private / marker).read_text() == "written"
    for path in targets[1:]:
        assert not Path(path).exists()


IDENTITY = """
with open("/proc/self/status", encoding="ascii") as status:
    fields = dict(line.split(":", 1) for line in status.read().splitlines())
print(os.getuid(), os.getgid(), fields["CapEff"].strip(), os.getpid(), network_interfaces())
"""


def test_a_sandboxed_process_is_nobody_without_capabilities_or_network() -> None:
    """uid and gid 65534, no capability, in a PID namespace of its own (after the shell that
    waits for it), and no network interface but loopback."""
    assert run_probe(IDENTITY, "sandboxed") == "0 65534 65534 0000000000000000 2 ['lo']"


DESCRIPTORS = """
print(sorted(int(name) for name in os.listdir("/proc/self/fd")))
"""


def test_only_its_pipes_reach_the_converter() -> None:
    """A descriptor the caller holds (its database connection, say), even an inheritable one,
    is closed before bubblewrap starts: the converter has its two pipes and /dev/null."""
    held = os.open(os.devnull, os.O_RDONLY)
    os.set_inheritable(held, True)
    stdin_read, stdin_write = os.pipe()
    stdout_read, stdout_write = os.pipe()
    try:
        command = probe_command(DESCRIPTORS, "sandboxed")
        pid = sandbox._spawn(command, stdin_read, stdout_write)
        os.close(stdout_write)
        os.close(stdin_write)
        with os.fdopen(stdout_read, encoding="utf-8") as answer:
            output = answer.read()
        os.waitpid(pid, 0)
    finally:
        os.close(held)
        os.close(stdin_read)
    # 0, 1, 2 and the one that lists them.
    assert output == "[0, 1, 2, 3]\n"


def test_code_under_tmp_is_bound_on_top_of_the_sandboxs_own_tmp() -> None:
    # A checkout under /tmp (as CI makes one) holds the venv and the `portal` package: bound
    # before the sandbox's /tmp was mounted, they were hidden by it and nothing could convert.
    arguments = confinement(DisarmSettings(), Path("/dev/shm/portal-disarm-test"))
    own_tmp = arguments.index("--tmpfs")
    assert arguments[own_tmp + 1] == "/tmp"
    binds = [i for i, a in enumerate(arguments) if a in {"--ro-bind", "--ro-bind-try", "--bind"}]
    assert binds and min(binds) > own_tmp
