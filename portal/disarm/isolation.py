"""The converter checks its sandbox and sets its limits before it reads a byte of the document.

The sandbox itself is made before the converter starts (portal.disarm.bubblewrap): namespaces,
nobody's ids, a file system of its own. `enter_sandbox` makes sure it is in one (a user
namespace, not root in it, no network interface but loopback), so that a converter started any
other way converts nothing, and sets resource limits, which LibreOffice inherits: address space
(memory_mb), CPU time (cpu_seconds), processes and threads, open files, file size, no core
dumps.

Anything that is not as it must be raises SandboxUnavailable: the converter then answers
"sandbox_unavailable" without reading the document (fail closed).
"""

from __future__ import annotations

import os
import resource

from portal.settings import DisarmSettings

OPEN_FILES = 512
# Processes and threads of the sandbox's user (LibreOffice runs a few dozen threads). Counted
# in the sandbox's own user namespace; the kernel does not apply it when the caller is root.
PROCESSES = 256
# Files the converter may write: LibreOffice's PDF and profile in the private directory.
_FILE_SIZE_SLACK = 64 * 1024 * 1024
# Seconds of CPU time past `cpu_seconds` before SIGKILL, when SIGXCPU is caught or ignored.
CPU_GRACE_SECONDS = 5
# /proc/self/uid_map outside any user namespace: every id mapped to itself.
_INITIAL_USER_NAMESPACE = ["0", "0", "4294967295"]


class SandboxUnavailable(Exception):
    """The process could not be isolated as it must be."""


def enter_sandbox(settings: DisarmSettings, input_bytes: int) -> None:
    _check_confined()
    _limit_resources(settings, input_bytes)


def _check_confined() -> None:
    try:
        with open("/proc/self/uid_map", encoding="ascii") as uid_map:
            mapping = uid_map.read().split()
    except OSError as error:
        raise SandboxUnavailable(f"user namespace unknown: {error}") from None
    if mapping == _INITIAL_USER_NAMESPACE:
        raise SandboxUnavailable("not in a user namespace of its own")
    if os.getuid() == 0 or os.geteuid() == 0:
        raise SandboxUnavailable("root in its user namespace")
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


def _limit_resources(settings: DisarmSettings, input_bytes: int) -> None:
    memory = settings.memory_mb * 1024 * 1024
    largest_file = max(input_bytes, settings.max_output_bytes) + _FILE_SIZE_SLACK
    cpu_hard = settings.cpu_seconds + CPU_GRACE_SECONDS
    limits = (
        (resource.RLIMIT_AS, memory, memory),
        # SIGXCPU at the soft limit; SIGKILL at the hard one if that is caught or ignored.
        (resource.RLIMIT_CPU, settings.cpu_seconds, cpu_hard),
        (resource.RLIMIT_NPROC, PROCESSES, PROCESSES),
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
