"""A receipt's proof carries its checkpoint's RFC 3161 time-stamp, made by a real TSA on
loopback (openssl ts, loopback/tsa.py): the public page checks it against the council's TSA's
root (`[audit] tsa_certificate_file`) and says when, in UK time; a token over something else
fails; and the docs' OpenSSL recipe (docs/receipts.md) checks it too."""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from loopback.tsa import ROOT_FILE, LoopbackTsa
from portal.audit.witness import TimestampAuthority
from portal.config import Settings
from tests.conftest import test_settings
from tests.integration.test_receipt_check import GENUINE, check
from tests.integration.test_sent_copy import send_a_version
from tests.support.receipt_proofs import bundle_of, settle_and_witness
from tests.support.world import World

DOCS = Path(__file__).resolve().parents[2] / "docs" / "receipts.md"


@pytest.fixture
def settings(
    engine: Engine, keyring_path: Path, audit_key_path: Path, tsa: LoopbackTsa
) -> Settings:
    return test_settings(
        engine.url.render_as_string(False),
        keyring_path,
        audit={
            "signing_key_file": str(audit_key_path),
            "tsa_certificate_file": str(tsa.directory / ROOT_FILE),
        },
    )


@pytest.fixture
def bundle(app: Flask, world: World, db_session: Session, tsa: LoopbackTsa) -> dict[str, object]:
    reference = send_a_version(app, world)
    settle_and_witness(app, db_session, tsa=TimestampAuthority(tsa.url, tsa.trust_roots_pem))
    return bundle_of(app, world, reference)


def test_the_page_says_when_the_tsa_saw_the_checkpoint(
    app: Flask, bundle: dict[str, object]
) -> None:
    status, html = check(app.test_client(), json.dumps(bundle).encode(), "proof.json")
    assert status == 200 and GENUINE in html
    said = re.search(r"time-stamped by the council’s time-stamping authority on ([^.]+)\.", html)
    assert said is not None and "It is in the council’s audit log" in html
    assert "UTC" not in said[1] and "+00:00" not in said[1]
    assert re.fullmatch(r"\d{1,2} \w+ \d{4} at \d{1,2}(:\d\d)?(am|pm)", said[1]), said[1]


def test_a_token_over_something_else_fails(
    app: Flask, bundle: dict[str, object], tsa: LoopbackTsa
) -> None:
    other = TimestampAuthority(tsa.url, tsa.trust_roots_pem).stamp(b"another checkpoint")
    forged = {**bundle, "checkpoint_timestamp": base64.b64encode(other).decode()}
    status, html = check(app.test_client(), json.dumps(forged).encode(), "proof.json")
    assert status == 200 and "It is not proven to be in the council’s audit log" in html
    assert "The checkpoint’s time-stamp does not verify" in html


def _recipe() -> list[str]:
    """The time-stamp recipe's commands, as docs/receipts.md gives them."""
    text = DOCS.read_text(encoding="utf-8")
    block = text.split("The time-stamp**", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    return [line.strip() for line in block.splitlines() if line.strip()]


@pytest.mark.skipif(not (shutil.which("jq") and shutil.which("openssl")), reason="no jq/openssl")
def test_the_docs_openssl_recipe_checks_the_token(
    bundle: dict[str, object], tsa: LoopbackTsa, tmp_path: Path
) -> None:
    (tmp_path / "proof.json").write_text(json.dumps(bundle))
    shutil.copy(tsa.directory / ROOT_FILE, tmp_path / "tsa-root.pem")
    outputs = [
        subprocess.run(  # noqa: S602 - the docs' own commands, on our own files
            command, shell=True, cwd=tmp_path, capture_output=True, text=True, check=True
        ).stdout
        for command in _recipe()
    ]
    assert "Verification: OK" in "".join(outputs)
    assert "Time stamp:" in outputs[-1]
