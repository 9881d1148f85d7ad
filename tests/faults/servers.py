"""Private servers for the fault tests to break: a PostgreSQL 15 cluster and a Redis server of
their own on free loopback ports, and small file systems. The shared PostgreSQL and Redis that
the rest of the suite uses are never stopped or reconfigured."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis

from loopback.processes import PROJECT_ROOT, free_port
from tests.conftest import TEST_SECRET_KEY
from tests.support.audit_log import TEST_ORIGIN

PG_BIN = Path("/usr/lib/postgresql/15/bin")


class PrivatePostgres:
    """A PostgreSQL cluster in `directory`, run by the `postgres` OS user (the server refuses
    to run as root, so the directory is theirs, outside pytest's private temporary tree),
    trusting local connections, on a free port."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.data = directory / "data"
        self.log = directory / "postgres.log"
        self.port = free_port()
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    @staticmethod
    def available() -> str | None:
        """Why a private cluster cannot run here, or None."""
        if not (PG_BIN / "initdb").exists():
            return f"PostgreSQL 15's server programs are not in {PG_BIN}"
        if os.geteuid() == 0:
            if shutil.which("runuser") is None:
                return "runuser is needed to run PostgreSQL as the postgres user, not as root"
            try:
                pwd.getpwnam("postgres")
            except KeyError:
                return "there is no postgres OS user to run PostgreSQL as"
        return None

    def _as_postgres(self, *command: str, timeout: float = 60) -> None:
        done = self._run_as_postgres(*command, timeout=timeout)
        assert done.returncode == 0, f"{command[0]} {command[1]}: {done.stdout}{done.stderr}"

    @staticmethod
    def _run_as_postgres(*command: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        return subprocess.run([*prefix, *command], capture_output=True, text=True, timeout=timeout)

    def create(self) -> PrivatePostgres:
        self.directory.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.directory, "postgres", "postgres")
        self._as_postgres(
            str(PG_BIN / "initdb"),
            "--pgdata",
            str(self.data),
            "--username",
            "postgres",
            "--auth",
            "trust",
            "--encoding",
            "UTF8",
            "--no-sync",
        )
        return self

    def start(self) -> None:
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.directory} -c fsync=off"
        self._ctl("start", "-w", "-o", options)

    def stop(self) -> None:
        self._ctl("stop", "-w", "-m", "fast")

    def restart(self, pause: float = 2.0) -> None:
        """Stop (ending every connection), stay down `pause` seconds, start again."""
        self.stop()
        time.sleep(pause)
        self.start()

    def running(self) -> bool:
        # As the postgres user too: pg_ctl refuses to run as root, even to report the status.
        status = self._run_as_postgres(str(PG_BIN / "pg_ctl"), "status", "-D", str(self.data))
        return status.returncode == 0

    def _ctl(self, action: str, *options: str) -> None:
        self._as_postgres(
            str(PG_BIN / "pg_ctl"), action, "-D", str(self.data), "-l", str(self.log), *options
        )

    def database_url(self, name: str) -> str:
        return self.url.rsplit("/", 1)[0] + f"/{name}"


@contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    reason = PrivatePostgres.available()
    if reason:
        pytest.skip(reason)
    directory = Path(tempfile.mkdtemp(prefix="portal-fault-postgres-"))
    try:
        server = PrivatePostgres(directory).create()
        server.start()
        try:
            yield server
        finally:
            if server.running():
                server.stop()
    finally:
        shutil.rmtree(directory, ignore_errors=True)


class PrivateRedis:
    """redis-server on a free port, keeping nothing on disk, stoppable and startable again."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start it (again, on the same port), and make sure it is this process answering:
        if something else took the port while it was stopped, fail saying so."""
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.skip("redis-server is not installed")
        with (self.directory / "redis.log").open("ab") as log:
            process = subprocess.Popen(  # noqa: S603 - a fixed program and arguments
                [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
                + ["--appendonly", "no", "--dir", str(self.directory)],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.process = process
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and process.poll() is None:
            try:
                answering = self.client().info("server")["process_id"]
            except redis.ConnectionError:
                time.sleep(0.05)
                continue
            if answering == process.pid:
                return
            time.sleep(0.05)  # another server on the port: ours exits, unable to listen
        self.stop()
        raise AssertionError(
            f"redis-server could not serve port {self.port} (taken by another process while "
            f"it was stopped?): see {self.directory / 'redis.log'}"
        )

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, socket_timeout=2)


@contextmanager
def mounted_tmpfs(mount_point: Path, *options: str) -> Iterator[Path]:
    """A tmpfs of its own at `mount_point` (for a store that fills up or is read-only), or a
    skip where mounting is not permitted (it needs root, or CAP_SYS_ADMIN)."""
    mount_point.mkdir(parents=True, exist_ok=True)
    options_text = ",".join(("mode=0700", *options))
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options_text, "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield mount_point
    finally:
        _unmount(mount_point)


def _unmount(mount_point: Path) -> None:
    """Unmount, lazily if it is busy. A failure only warns (in pytest's warnings summary, not
    raised as the suite's filterwarnings=error would): it must not hide the test's own error."""
    for command in (["umount", str(mount_point)], ["umount", "-l", str(mount_point)]):
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode == 0:
            return
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.warn(
            f"could not unmount the tmpfs at {mount_point}: {done.stderr.strip()}",
            ResourceWarning,
            stacklevel=2,
        )


def portal_environment(
    database_url: str, keyring_path: Path, audit_key_path: Path, **settings: str
) -> dict[str, str]:
    """The environment of a portal process (gunicorn or a `portal` command) in the test
    settings: this database, this keyring and checkpoint key, plus `PORTAL_<NAME>` settings
    given as name=value (for example ATTACHMENTS__STORAGE_DIRECTORY)."""
    environment = {key: value for key, value in os.environ.items() if not key.startswith("PORTAL_")}
    environment |= {
        "PATH": f"{PROJECT_ROOT / '.venv' / 'bin'}:{environment.get('PATH', '')}",
        "PORTAL_ENV": "test",
        "PORTAL_DATABASE__URL": database_url,
        "PORTAL_KEYRING__PATH": str(keyring_path),
        "PORTAL_SECURITY__SECRET_KEY": TEST_SECRET_KEY,
        "PORTAL_AUDIT__SIGNING_KEY_FILE": str(audit_key_path),
        # The log's name the tests sign checkpoints with (tests/support/audit_log.py).
        "PORTAL_AUDIT__LOG_ORIGIN": TEST_ORIGIN,
    }
    return environment | {f"PORTAL_{name.upper()}": value for name, value in settings.items()}
