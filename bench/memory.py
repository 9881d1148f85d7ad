"""Peak memory of the gunicorn worker while a person uploads, and another downloads, one big
document (FULL: 200 MB): its resident set's high-water mark (VmHWM, reset before each transfer
through /proc/PID/clear_refs) against its resident set just before."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import requests
import sqlalchemy as sa
from sqlalchemy.orm import Session

from bench import drafts
from bench.report import Figure
from bench.sessions import COOKIE, signed_in
from bench.stack import Bench
from bench.uploads import PIECE, Upload
from portal.models import Contribution, DelegationRequest

GOAL_MB = 64


def measure(bench: Bench, partner: uuid.UUID, reference: str) -> list[Figure]:
    size = bench.scale.big_file_mb * 1024 * 1024
    # One worker process, so the transfer is known to run in the process watched.
    bench.start_web(PORTAL_WEB_WORKERS="1", PORTAL_ATTACHMENTS__MAX_BYTES=str(size + PIECE))
    try:
        (worker,) = bench.web_worker_pids()
        token = signed_in(bench.engine, [partner])[partner]
        csrf, (draft,) = drafts.prepare(bench.engine, bench.portal_url, token, [reference])
        http = requests.Session()
        http.cookies.set(COOKIE, token)
        for _ in range(20):  # settle: templates compiled, pools filled
            http.get(f"{bench.portal_url}/inbox/{reference}", timeout=30)
        bench.progress(f"uploading a {bench.scale.big_file_mb} MB document")
        base, peak = _watched(worker, lambda: _upload(bench, http, csrf, draft, size))
        upload = (peak - base) / 1024
        _send(bench, http, csrf, reference)
        reader_id, path = _download_target(bench, reference)
        reader = requests.Session()
        reader.cookies.set(COOKIE, signed_in(bench.engine, [reader_id])[reader_id])
        bench.progress(f"downloading the {bench.scale.big_file_mb} MB document")
        base, peak = _watched(worker, lambda: _download(bench, reader, path, size))
        download = (peak - base) / 1024
    finally:
        bench.start_web()
    how = f"gunicorn worker's peak RSS minus RSS before, {bench.scale.big_file_mb} MB file"
    return [
        Figure(
            "upload: worker memory growth",
            f"{upload:.1f} MB",
            f"< {GOAL_MB} MB",
            upload < GOAL_MB,
            how,
        ),
        Figure(
            "download: worker memory growth",
            f"{download:.1f} MB",
            f"< {GOAL_MB} MB",
            download < GOAL_MB,
            how,
        ),
    ]


def _watched(pid: int, transfer: object) -> tuple[int, int]:
    """RSS before and the high-water mark during `transfer()`, in kB."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # resets VmHWM to the current RSS
    before = _status(pid, "VmRSS")
    transfer()  # type: ignore[operator]
    return before, _status(pid, "VmHWM")


def _status(pid: int, field: str) -> int:
    found = re.search(rf"^{field}:\s+(\d+) kB$", Path(f"/proc/{pid}/status").read_text(), re.M)
    if not found:
        raise RuntimeError(f"no {field} for process {pid}")
    return int(found.group(1))


def _upload(
    bench: Bench, http: requests.Session, csrf: str, draft: drafts.Draft, size: int
) -> None:
    upload = Upload(csrf, "big.pdf")
    answer_page = f"{bench.portal_url}/inbox/{draft.reference}/answer/{draft.section_id}"
    url = f"{answer_page}/files/{draft.answer_key}"
    answer = http.post(
        url,
        data=upload.body(size),
        headers={"Content-Type": upload.content_type},
        allow_redirects=False,
        timeout=600,
    )
    if answer.status_code != 302 or "added=" not in answer.headers.get("Location", ""):
        raise RuntimeError(f"the big upload was refused: {answer.status_code} {answer.headers}")


def _send(bench: Bench, http: requests.Session, csrf: str, reference: str) -> None:
    sent = http.post(
        f"{bench.portal_url}/inbox/{reference}/answer/submit",
        data={"csrf_token": csrf, "declaration": "yes"},
        allow_redirects=False,
        timeout=120,
    )
    if sent.status_code != 302:
        raise RuntimeError(f"sending the big document failed: {sent.status_code}")


def _download_target(bench: Bench, reference: str) -> tuple[uuid.UUID, str]:
    """The social worker who asked, and the address of the document they can download."""
    with Session(bench.engine) as session:
        found = session.scalars(
            sa.select(DelegationRequest).where(DelegationRequest.reference == reference)
        ).one()
        contribution = session.scalars(
            sa.select(Contribution)
            .where(Contribution.request_id == found.id, Contribution.submitted_at.is_not(None))
            .order_by(Contribution.version.desc())
            .limit(1)
        ).one()
        (attachment,) = contribution.attachments
        # The original, as the partner sent it: the bench runs no disarm worker, and the
        # original streams through the same decryption as a safe copy would.
        files = f"/requests/{reference}/versions/{contribution.version}/files"
        return found.requested_by_id, f"{files}/{attachment.id}/original"


def _download(bench: Bench, http: requests.Session, path: str, size: int) -> None:
    form = http.get(f"{bench.portal_url}{path}", timeout=60)
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    if form.status_code != 200 or token is None:
        raise RuntimeError(f"the original's download form failed: {form.status_code}")
    reason = {"csrf_token": token.group(1), "reason": "other"}
    received = 0
    with http.post(f"{bench.portal_url}{path}", data=reason, stream=True, timeout=600) as answer:
        if answer.status_code != 200:
            raise RuntimeError(f"the big download failed: {answer.status_code}")
        for piece in answer.iter_content(PIECE):
            received += len(piece)
    if received != size:
        raise RuntimeError(f"the download brought {received} bytes of {size}")
