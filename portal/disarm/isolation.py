"""The converter process shuts itself in before it reads a byte of the document.

`enter_sandbox` gives the calling process a network namespace of its own (no interface but a
loopback that is down, so nothing can be reached, not even this machine's own services), a PID
namespace for the processes it starts (LibreOffice), and resource limits: address space
(memory_mb), CPU time (cpu_seconds), open files, file size and no core dumps. Without root it
makes a user namespace first, which lets an ordinary user make the other two.

The PID namespace is what makes killing the converter's process group enough: the first process
the converter starts is that namespace's init, in the group, and when it dies the kernel kills
every process in the namespace, even one that left the group with setsid().

Anything that cannot be had raises SandboxUnavailable: the caller then converts nothing (fail
closed).

Python 3.11 has no os.unshare, so unshare(2) is called through ctypes.
"""

from __future__ import annotations

import ctypes
import os
import resource

from portal.settings import DisarmSettings

CLONE_NEWPID = 0x20000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
OPEN_FILES = 512
# Files the converter may write: LibreOffice's PDF and profile in the private directory.
_FILE_SIZE_SLACK = 64 * 1024 * 1024


class SandboxUnavailable(Exception):
    """The process could not be isolated as it must be."""


def enter_sandbox(settings: DisarmSettings, input_bytes: int) -> None:
    _unshare()
    _limit_resources(settings, input_bytes)


def _unshare() -> None:
    uid, gid = os.getuid(), os.getgid()
    flags = CLONE_NEWNET | CLONE_NEWPID | (0 if uid == 0 else CLONE_NEWUSER)
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(ctypes.c_int(flags)) != 0:
        error = ctypes.get_errno()
        raise SandboxUnavailable(f"unshare failed: {os.strerror(error)}")
    if uid != 0:
        _map_ids(uid, gid)
    interfaces = network_interfaces()
    if interfaces not in ([], ["lo"]):
        raise SandboxUnavailable(f"network interfaces remain: {interfaces}")


def network_interfaces() -> list[str]:
    """The interfaces this process's network namespace has, from /proc (no netlink socket,
    which a service's RestrictAddressFamilies may forbid)."""
    try:
        with open("/proc/self/net/dev", encoding="ascii") as table:
            lines = table.read().splitlines()[2:]  # two lines of column headings
    except OSError as error:
        raise SandboxUnavailable(f"network interfaces unknown: {error}") from None
    return sorted(line.split(":", 1)[0].strip() for line in lines)


def _map_ids(uid: int, gid: int) -> None:
    # Keep the same ids inside the user namespace, so files the converter makes are its own.
    try:
        for name, text in (
            ("setgroups", "deny"),
            ("uid_map", f"{uid} {uid} 1"),
            ("gid_map", f"{gid} {gid} 1"),
        ):
            with open(f"/proc/self/{name}", "w", encoding="ascii") as handle:
                handle.write(text)
    except OSError as error:
        raise SandboxUnavailable(f"user namespace ids: {error}") from None


def _limit_resources(settings: DisarmSettings, input_bytes: int) -> None:
    memory = settings.memory_mb * 1024 * 1024
    largest_file = max(input_bytes, settings.max_output_bytes) + _FILE_SIZE_SLACK
    limits = (
        (resource.RLIMIT_AS, memory, memory),
        # SIGXCPU at the soft limit; SIGKILL a little later if that is caught or ignored.
        (resource.RLIMIT_CPU, settings.cpu_seconds, settings.cpu_seconds + 5),
        (resource.RLIMIT_NOFILE, OPEN_FILES, OPEN_FILES),
        (resource.RLIMIT_FSIZE, largest_file, largest_file),
        (resource.RLIMIT_CORE, 0, 0),
    )
    try:
        for which, soft, hard in limits:
            resource.setrlimit(which, _within_current(which, soft, hard))
    except (OSError, ValueError) as error:
        raise SandboxUnavailable(f"resource limits: {error}") from None


def _within_current(which: int, soft: int, hard: int) -> tuple[int, int]:
    # A limit already lower (set by the service manager, say) stays: only lowering is allowed.
    _current_soft, current_hard = resource.getrlimit(which)
    if current_hard != resource.RLIM_INFINITY:
        hard = min(hard, current_hard)
    return min(soft, hard), hard
