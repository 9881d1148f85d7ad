"""The converter's confinement: the bubblewrap (`bwrap`) command that starts it.

bubblewrap (Debian's `bubblewrap`, the sandbox Flatpak is built on) starts the converter in new
user, mount, PID, network, IPC, UTS and cgroup namespaces, as uid and gid 65534 (nobody) with no
capabilities, in a session of its own, killed if its caller dies. Its file system is built from
nothing: read-only, only what the converter needs to run (/usr, where LibreOffice and the fonts
are; the font and LibreOffice configuration in /etc; the Python interpreter, the virtual
environment and the `portal` package itself, never the project directory around it); a new
/proc for its own PID namespace, a minimal /dev, a /tmp in memory that goes with the sandbox,
and read-write only the private directory of this conversion (portal.disarm.office). There is
no /home, /root, /run, /var or configuration: no socket (PostgreSQL's, clamd's, D-Bus,
journald), no key, no stored document can be named from inside, let alone opened.

docs/disarm.md "The sandbox" says why bubblewrap and not its rivals.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from portal.settings import DisarmSettings

BWRAP = Path("/usr/bin/bwrap")
# The `portal` package's own directory.
PACKAGE = Path(__file__).parent.parent
# The sandbox's own /tmp, in memory, gone with it (not the host's).
TMP = "/tmp"  # noqa: S108
# The converter's user and group inside its user namespace: nobody, never root.
NOBODY = 65534
# /etc holds the host's configuration; of it the converter sees only what fonts and
# LibreOffice read (and the dynamic linker's cache).
_ETC = ("/etc/fonts", "/etc/libreoffice", "/etc/ld.so.cache")
# Debian links these to /usr ("merged /usr"); elsewhere they are directories of their own.
_TOP_LEVEL = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")
# The shell as the namespace's first process: runs its arguments, waits, ends as they did.
_FIRST_PROCESS = ("/bin/sh", "-c", '"$@"; exit $?', "sandbox")
_NAMESPACES = ("--unshare-all", "--unshare-user", "--disable-userns", "--as-pid-1")
_LIFETIME = ("--die-with-parent", "--new-session")


def sandbox_command(
    settings: DisarmSettings, directory: Path | None, command: list[str] | None = None
) -> list[str]:
    """The command that runs the converter (`python -m portal.disarm.child`, or `command`)
    confined; `directory` (if any) is the only place it may write, besides its own /tmp in
    memory.

    The first process of the sandbox's PID namespace is a shell that waits for the converter
    and ends as it did (128 plus a signal's number when a signal killed it): the converter is
    not that first process, which the kernel does not stop with a signal it does not handle
    (SIGXCPU at the CPU limit, SIGABRT when PDFium aborts), and the shell, reaped by bubblewrap
    here, carries the converter's resource usage (peak memory, CPU time) out to the caller.
    When the shell dies, the kernel kills every process left in the namespace.
    """
    converter = command or [sys.executable, "-m", "portal.disarm.child"]
    return [*confinement(settings, directory), "--", *_FIRST_PROCESS, *converter]


def sandbox_works(settings: DisarmSettings) -> bool:
    """Whether bubblewrap can make the converter's sandbox here now (it runs `true` in it)."""
    try:
        ended = subprocess.run(  # noqa: S603 (the program and arguments are the portal's own)
            [*confinement(settings, None), "--", "true"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={"PATH": "/usr/bin:/bin"},
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return ended.returncode == 0


def confinement(settings: DisarmSettings, directory: Path | None) -> list[str]:
    """bubblewrap and its options, to be followed by "--" and the command to confine."""
    identity = ["--cap-drop", "ALL", "--uid", str(NOBODY), "--gid", str(NOBODY)]
    tmp_bytes = str(settings.memory_mb * 1024 * 1024)
    arguments = [str(BWRAP), *_NAMESPACES, *_LIFETIME, *identity]
    # /tmp first, then the binds: code that lives under /tmp (a checkout there, as CI makes)
    # is bound on top of the sandbox's own /tmp instead of hidden by it.
    arguments += ["--proc", "/proc", "--dev", "/dev", "--size", tmp_bytes, "--tmpfs", TMP]
    arguments += _file_system()
    if directory is not None:
        arguments += ["--bind", str(directory), str(directory)]
    # The root bubblewrap builds the rest on (mount points only) is made read-only too.
    return [*arguments, "--remount-ro", "/", "--chdir", TMP]


def _file_system() -> list[str]:
    arguments = ["--ro-bind", "/usr", "/usr"]
    for name in _TOP_LEVEL:
        path = Path("/", name)
        if path.is_symlink():
            arguments += ["--symlink", str(path.readlink()), str(path)]
        elif path.is_dir():
            arguments += ["--ro-bind", str(path), str(path)]
    for kept in (*_ETC, *_python_paths()):
        arguments += ["--ro-bind-try" if kept in _ETC else "--ro-bind", kept, kept]
    return arguments


def _python_paths() -> list[str]:
    """The interpreter, the virtual environment and the `portal` package, each once: the
    package's own directory only, not the project around it (instance/ holds keys and the
    document store)."""
    paths: list[Path] = []
    for path in (Path(sys.base_prefix), Path(sys.prefix), PACKAGE):
        path = path.absolute()
        if path.is_relative_to("/usr") or any(path.is_relative_to(kept) for kept in paths):
            continue
        paths = [kept for kept in paths if not kept.is_relative_to(path)] + [path]
    return [str(path) for path in paths]
