"""scripts/verify-receipt.py --proof: a partner's downloaded bundle checked with nothing but
Python and `cryptography`, offline (the receipt, its log entry, the entry's inclusion in a
checkpoint signed with the council's key) and against the portal's public log (--log: the
checkpoint's consistency with the newest witnessed one). The log is the real app's
/audit-log/ routes, served on loopback; forgeries fail with exit status 1."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from portal.audit.runtime import audit_keys
from portal.audit.sequencer import tree_size
from tests.integration.test_sent_copy import send_a_version
from tests.support.audit_log import sequence_all
from tests.support.receipt_proofs import bundle_of, forge_witnessed_head, settle_and_witness
from tests.support.world import World

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "verify-receipt.py"


@pytest.fixture
def log_address(app: Flask) -> Iterator[str]:
    """The app's public log on a loopback port (answers made by the app's test client)."""
    client = app.test_client()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the standard library's name
            if not self.path.startswith("/audit-log/"):
                self.send_error(404)
                return
            answer = client.get(self.path)
            self.send_response(answer.status_code)
            self.send_header("Content-Type", answer.content_type)
            self.end_headers()
            self.wfile.write(answer.data)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def run(*arguments: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own script, our own files
        [sys.executable, str(SCRIPT), "--proof", *map(str, arguments)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


@pytest.fixture
def files(app: Flask, world: World, db_session: Session, tmp_path: Path) -> tuple[Path, Path]:
    reference = send_a_version(app, world)
    settle_and_witness(app, db_session)
    bundle = tmp_path / "proof.json"
    bundle.write_text(json.dumps(bundle_of(app, world, reference)))
    key = tmp_path / "key.pem"
    signer = audit_keys(app).signer
    assert signer is not None
    key.write_text(signer.public.pem)
    return bundle, key


def test_a_genuine_bundle_is_in_the_log_offline(files: tuple[Path, Path]) -> None:
    bundle, key = files
    done = run(bundle, key)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("VERIFIED: version 1 of request")
    assert "IN THE LOG: entry" in done.stdout and "not checked: give --log" in done.stdout


def test_with_the_log_it_is_consistent_with_the_newest_checkpoint(
    app: Flask, world: World, db_session: Session, files: tuple[Path, Path], log_address: str
) -> None:
    bundle, key = files
    send_a_version(app, world)
    later = settle_and_witness(app, db_session)
    done = run(bundle, key, "--log", log_address)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"CONSISTENT: the log's newest checkpoint ({later.tree_size} entries)" in done.stdout


def test_a_forged_later_head_is_not_consistent(
    app: Flask, world: World, db_session: Session, files: tuple[Path, Path], log_address: str
) -> None:
    """A later head over the real tree's size, signed with the council's key, whose root is
    not that tree's (the log rewritten, its head signed anew by someone holding the key)."""
    bundle, key = files
    send_a_version(app, world)
    sequence_all(db_session)
    forge_witnessed_head(app, db_session, tree_size(db_session))
    done = run(bundle, key, "--log", log_address)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "NOT CONSISTENT" in done.stdout


def _flip(value: str) -> str:
    raw = bytearray(base64.b64decode(value))
    raw[0] ^= 1
    return base64.b64encode(bytes(raw)).decode()


FORGERIES = {
    "a hash flipped": lambda b: {
        **b,
        "inclusion_proof": [_flip(b["inclusion_proof"][0]), *b["inclusion_proof"][1:]],
    },
    "the wrong index": lambda b: {**b, "leaf_index": b["leaf_index"] + 1},
    "a changed checkpoint": lambda b: {
        **b,
        "checkpoint": b["checkpoint"].replace("\n", "\n1", 1),
    },
    "a different leaf": lambda b: {
        **b,
        "leaf_data": base64.b64encode(
            base64.b64decode(b["leaf_data"]).replace(
                b'"case_reference":null', b'"case_reference":"X"'
            )
        ).decode(),
    },
}


@pytest.mark.parametrize("forgery", FORGERIES)
def test_a_forged_bundle_does_not_verify(files: tuple[Path, Path], forgery: str) -> None:
    bundle, key = files
    document = json.loads(bundle.read_text())
    assert document["inclusion_proof"], "a log of one entry: nothing to flip"
    bundle.write_text(json.dumps(FORGERIES[forgery](document)))
    done = run(bundle, key)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "NOT IN THE LOG" in done.stdout
