"""This machine's limit for the audit append figure: pgbench's rate for one INSERT per
transaction, on the same PostgreSQL server and database as the run, with as many clients as
the figure has writers.

The row is as wide as an audit event the writers record (the same columns, types and values
of the same lengths) but goes into a scratch table with only a primary key, created for the
measurement and dropped after it: the server's cost of committing one such row, without the
product's indexes or its round trips.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

SCRATCH = "bench_pgbench_inserts"
NUMBERS = "bench_pgbench_numbers"
# One event's row, as bench/audit_speed.py's writers record it (a partner opening a request).
SCRIPT = f"""INSERT INTO {SCRATCH} (seq, occurred_at, actor_user_id, actor_organisation_id,
  actor_role, action, object_type, object_id, case_reference, outcome, details, xact)
VALUES (nextval('{NUMBERS}'), now(), gen_random_uuid(), gen_random_uuid(),
  'partner_contributor', 'request_viewed', 'delegation_request', gen_random_uuid()::text,
  'BENCH-0001', 'success', '{{"request": "REQ-0000001", "version": 1}}',
  pg_current_xact_id()::text::bigint);
"""  # noqa: S608 - constants only
_TPS = re.compile(r"^tps = ([\d.]+) \(without initial connection time\)$", re.MULTILINE)


def insert_rate(engine: Engine, clients: int, seconds: float) -> float:
    """Transactions a second that pgbench commits with `clients` clients (one thread each),
    each transaction one INSERT of an audit-event-sized row, for `seconds`."""
    program = shutil.which("pgbench")
    if program is None:
        raise RuntimeError("pgbench is missing: `make pgbench` installs it")
    with scratch_table(engine), tempfile.TemporaryDirectory(prefix="portal-pgbench-") as directory:
        script = Path(directory) / "insert.sql"
        script.write_text(SCRIPT, encoding="utf-8")
        output = _run(program, engine, script, clients, seconds)
    found = _TPS.search(output)
    if found is None:
        raise RuntimeError(f"pgbench printed no rate:\n{output}")
    return float(found.group(1))


@contextmanager
def scratch_table(engine: Engine) -> Iterator[None]:
    """The scratch table and sequence SCRIPT inserts into, for the measurement only."""
    with engine.begin() as connection:
        connection.execute(sa.text(f"DROP TABLE IF EXISTS {SCRATCH}"))
        connection.execute(sa.text(f"DROP SEQUENCE IF EXISTS {NUMBERS}"))
        connection.execute(sa.text(f"CREATE SEQUENCE {NUMBERS}"))
        connection.execute(
            sa.text(f"CREATE TABLE {SCRATCH} (LIKE audit_events, PRIMARY KEY (seq))")
        )
    try:
        yield
    finally:
        with engine.begin() as connection:
            connection.execute(sa.text(f"DROP TABLE {SCRATCH}"))
            connection.execute(sa.text(f"DROP SEQUENCE {NUMBERS}"))


def _run(program: str, engine: Engine, script: Path, clients: int, seconds: float) -> str:
    """pgbench with prepared statements (its fastest), no vacuum of its own tables (it has none
    here), against the run's database."""
    url = engine.url
    environment = dict(os.environ)
    if url.password:
        environment["PGPASSWORD"] = str(url.password)
    command = [program, "--no-vacuum", "--protocol=prepared", f"--file={script}"]
    command += [f"--client={clients}", f"--jobs={clients}", f"--time={max(1, round(seconds))}"]
    command += [f"--host={url.host or '127.0.0.1'}", f"--port={url.port or 5432}"]
    command += [f"--username={url.username or 'postgres'}", str(url.database)]
    finished = subprocess.run(  # noqa: S603 - pgbench, with the run's own arguments
        command, env=environment, capture_output=True, text=True, timeout=seconds + 120, check=False
    )
    if finished.returncode != 0:
        raise RuntimeError(f"pgbench failed ({finished.returncode}):\n{finished.stderr}")
    return finished.stdout
