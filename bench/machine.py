"""What the figures were measured on: they are ratios or absolute speeds of this machine."""

from __future__ import annotations

import os
import platform
import re
import subprocess
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine


def describe(engine: Engine) -> list[str]:
    cpu = re.search(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.M)
    memory = re.search(r"^MemTotal:\s+(\d+) kB$", Path("/proc/meminfo").read_text(), re.M)
    with engine.connect() as connection:
        postgres = connection.execute(sa.text("SHOW server_version")).scalar_one()
    openssl = subprocess.run(  # noqa: S603 - a fixed command
        ["/usr/bin/openssl", "version"], capture_output=True, text=True, check=False
    ).stdout.strip()
    return [
        f"CPU: {cpu.group(1) if cpu else 'unknown'}, {os.cpu_count()} cores",
        f"Memory: {int(memory.group(1)) // 1024 // 1024 if memory else '?'} GiB",
        f"OS: {platform.system()} {platform.release()}",
        f"Python {platform.python_version()}, PostgreSQL {postgres}, {openssl}",
    ]
