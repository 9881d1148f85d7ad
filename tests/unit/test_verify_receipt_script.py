"""scripts/verify-receipt.py checks a portal receipt with nothing but `cryptography`, and the
docs' openssl recipe (docs/receipts.md) does the same: a genuine receipt verifies, a forged one
does not, and a content file is checked against the digest."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from portal.audit.signing import CheckpointSigner
from portal.contributions import receipts
from portal.models import Contribution, DelegationRequest, Organisation

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "verify-receipt.py"


@pytest.fixture
def signed(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A receipt, the key's PEM and the content, as the portal writes them."""
    signer = CheckpointSigner(Ed25519PrivateKey.generate())
    school = Organisation(id=uuid.UUID(int=7), name="Ashby Lane Primary – Année 6")
    request = DelegationRequest(
        reference="DR-AAAA2222",
        form_template="school-contribution",
        form_template_version=1,
        partner_organisation=school,
        partner_organisation_id=school.id,
    )
    contribution = Contribution(
        version=2, attachments=[], submitted_at=datetime(2026, 12, 5, 20, 36, 4, 667995, UTC)
    )
    answers = {"note": "Seen on Tuesday"}
    receipts.sign(signer, request, contribution, answers)
    receipt = tmp_path / "receipt.json"
    receipt.write_text(json.dumps(receipts.receipt_document(request, contribution)))
    key = tmp_path / "key.pem"
    key.write_text(signer.public.pem)
    content = tmp_path / "content.json"
    content.write_bytes(receipts.canonical_content(request, contribution, answers))
    return receipt, key, content


def run(*arguments: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own script, our own files
        [sys.executable, str(SCRIPT), *map(str, arguments)],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )


def test_a_genuine_receipt_and_its_content_verify(signed: tuple[Path, Path, Path]) -> None:
    receipt, key, content = signed
    result = run(receipt, key, content)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "VERIFIED: version 2 of request DR-AAAA2222, sent by Ashby Lane Primary" in result.stdout
    assert "CONTENT MATCHES" in result.stdout


@pytest.mark.parametrize(
    "change",
    [
        {"sha256": "00" * 32},
        {"version": 3},
        {"submitted_at": "2026-12-05T20:36:05+00:00"},
        {"organisation": "Brookfield Academy"},
        {"organisation_id": str(uuid.UUID(int=8))},
    ],
)
def test_a_forged_receipt_fails(signed: tuple[Path, Path, Path], change: dict[str, object]) -> None:
    receipt, key, _ = signed
    receipt.write_text(json.dumps({**json.loads(receipt.read_text()), **change}))
    result = run(receipt, key)
    assert result.returncode == 1 and "NOT VERIFIED" in result.stdout


def test_other_content_or_another_key_fails(
    signed: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    receipt, key, content = signed
    content.write_bytes(content.read_bytes().replace(b"Tuesday", b"Monday"))
    result = run(receipt, key, content)
    assert result.returncode == 1 and "CONTENT DOES NOT MATCH" in result.stdout
    other = tmp_path / "other.pem"
    other.write_text(CheckpointSigner(Ed25519PrivateKey.generate()).public.pem)
    assert run(receipt, other).returncode == 1
    assert run(key, key).returncode == 2  # not a receipt at all


@pytest.mark.parametrize(
    "change",
    [
        {"version": "2"},  # a string: the page refuses it, and so does the script
        {"version": 2.0},
        {"version": True},
    ],
)
def test_fields_are_used_exactly_as_the_receipt_holds_them(
    signed: tuple[Path, Path, Path], change: dict[str, object]
) -> None:
    """Before, the script normalised (int("0010"), a time parsed and written again), so it
    verified receipts the page refused."""
    receipt, key, _ = signed
    receipt.write_text(json.dumps({**json.loads(receipt.read_text()), **change}))
    result = run(receipt, key)
    assert result.returncode == 1 and "NOT VERIFIED: the receipt is damaged" in result.stdout


def test_a_time_written_otherwise_is_refused_though_it_is_the_same_moment(
    signed: tuple[Path, Path, Path],
) -> None:
    receipt, key, _ = signed
    document = json.loads(receipt.read_text())
    moment = datetime.fromisoformat(document["submitted_at"])
    for written in (moment.isoformat(), moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")):
        if written == document["submitted_at"]:
            continue
        receipt.write_text(json.dumps({**document, "submitted_at": written}))
        assert run(receipt, key).returncode == 1
    receipt.write_text(json.dumps({**document, "submitted_at": " " + document["submitted_at"]}))
    assert run(receipt, key).returncode == 1


def test_a_receipt_saved_again_by_notepad_verifies(signed: tuple[Path, Path, Path]) -> None:
    receipt, key, _ = signed
    receipt.write_bytes(b"\xef\xbb\xbf" + receipt.read_bytes())
    assert run(receipt, key).returncode == 0


def test_a_format_1_receipt_verifies_and_names_nobody(
    signed: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    """Signed before receipts named the organisation: the five-line message."""
    receipt_path, key_path, _ = signed
    receipt = json.loads(receipt_path.read_text())
    signer = CheckpointSigner(Ed25519PrivateKey.generate())
    message = receipts.signed_message(
        receipt["request"],
        receipt["version"],
        datetime.fromisoformat(receipt["submitted_at"]),
        bytes.fromhex(receipt["sha256"]),
    )
    first = {k: v for k, v in receipt.items() if not k.startswith("organisation")}
    first |= {"format": "portal-receipt/1", "key_id": signer.public.key_id}
    first |= {"signature": signer.sign(message).hex(), "organisation": "Claimed School"}
    receipt_path.write_text(json.dumps(first))
    key_path.write_text(signer.public.pem)
    result = run(receipt_path, key_path)
    assert result.returncode == 0 and "Claimed School" not in result.stdout


RECIPE_TOOLS = ("openssl", "jq", "basenc", "tr")


def _require_recipe_tools() -> None:
    missing = [tool for tool in RECIPE_TOOLS if shutil.which(tool) is None]
    if not missing:
        return
    message = f"the docs' recipe needs {', '.join(missing)}"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message}; CI=true requires it", pytrace=False)
    pytest.skip(message)


def test_the_openssl_recipe_in_the_docs_verifies_and_refuses(
    signed: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    _require_recipe_tools()
    receipt, key, _ = signed
    recipe = _recipe()
    assert "xxd" not in recipe  # not in coreutils: basenc is
    assert _shell(recipe, receipt, key, tmp_path).returncode == 0
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps({**json.loads(receipt.read_text()), "version": 3}))
    assert _shell(recipe, forged, key, tmp_path).returncode != 0


def test_the_openssl_recipe_verifies_a_format_1_receipt(tmp_path: Path) -> None:
    _require_recipe_tools()
    signer = CheckpointSigner(Ed25519PrivateKey.generate())
    moment = datetime(2026, 12, 5, 20, 36, 4, 667995, UTC)
    digest = bytes(range(32))
    message = receipts.signed_message("DR-AAAA2222", 1, moment, digest)
    document = {
        "format": receipts.FORMAT,
        "request": "DR-AAAA2222",
        "version": 1,
        "submitted_at": moment.isoformat(timespec="microseconds"),
        "sha256": digest.hex(),
        "key_id": signer.public.key_id,
        "signature": signer.sign(message).hex(),
    }
    receipt, key = tmp_path / "r1.json", tmp_path / "k1.pem"
    receipt.write_text(json.dumps(document))
    key.write_text(signer.public.pem)
    folder = tmp_path / "run"
    folder.mkdir()
    assert _shell(_recipe(), receipt, key, folder).returncode == 0
    assert run(receipt, key).returncode == 0
    receipt.write_text(json.dumps({**document, "request": "DR-BBBB2222"}))
    assert _shell(_recipe(), receipt, key, folder).returncode != 0


def _recipe() -> str:
    """The shell lines of docs/receipts.md's recipe, up to the openssl check."""
    docs = (SCRIPT.parents[1] / "docs" / "receipts.md").read_text()
    block = docs.split("```sh\n", 1)[1].split("```", 1)[0]
    return block.split("sha256sum", 1)[0].replace("\\\n", " ")


def _shell(recipe: str, receipt: Path, key: Path, folder: Path) -> subprocess.CompletedProcess[str]:
    (folder / "receipt.json").write_bytes(receipt.read_bytes())
    (folder / "receipt-key.pem").write_bytes(key.read_bytes())
    return subprocess.run(  # noqa: S603 - the docs' own recipe, on our own files
        ["/bin/sh", "-ec", recipe], cwd=folder, capture_output=True, text=True, check=False
    )
