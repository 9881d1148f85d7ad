"""What the benchmark's simulated people do, for locust (run headless by bench/web_load.py).

Readers, each a signed-in partner with their own session, open their inbox and then one of
their requests, again and again with no pause (a closed loop: N users means N requests in
flight); a plan may name one of these pages alone, or the floor page (bench/floor.py).
Submitters each take the next answered draft of theirs, attach a 1 MB PDF and send it. Council
readers, each a signed-in social worker, open My requests (a page, or a filter) again and
again (bench/my_requests.py). The plan (sessions, references, drafts) is a JSON file named by
BENCH_PLAN.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import time
from typing import Any

from locust import constant, task
from locust.contrib.fasthttp import FastHttpUser
from locust.exception import StopUser

from bench.uploads import Upload

PLAN: dict[str, Any] = json.loads(open(os.environ["BENCH_PLAN"], encoding="utf-8").read())  # noqa: SIM115
COOKIE = PLAN["cookie"]
READERS = itertools.cycle(PLAN["readers"])
SUBMITTERS = iter(PLAN["submitters"])
PAGES = PLAN.get("pages", ["inbox", "request page"])


class Reader(FastHttpUser):
    wait_time = constant(0)

    def on_start(self) -> None:
        reader = next(READERS)
        self.headers = {"Cookie": f"{COOKIE}={reader['token']}"}
        self.references: list[str] = reader["references"]

    @task
    def read(self) -> None:
        for page in PAGES:
            if page == "inbox":
                self._get("/inbox", page)
            elif page == "request page":
                self._get(f"/inbox/{random.choice(self.references)}", page)  # noqa: S311
            else:
                self._get("/floor", page)

    def _get(self, path: str, name: str) -> None:
        with self.client.get(path, headers=self.headers, name=name, catch_response=True) as answer:
            if answer.status_code != 200 or b"Sign out" not in (answer.content or b""):
                answer.failure(f"{answer.status_code}, not a signed-in page")


class Submitter(FastHttpUser):
    wait_time = constant(0)

    def on_start(self) -> None:
        try:
            submitter = next(SUBMITTERS)
        except StopIteration:
            raise StopUser() from None
        self.headers = {"Cookie": f"{COOKIE}={submitter['token']}"}
        self.csrf: str = submitter["csrf"]
        self.upload = Upload(self.csrf, "report.pdf")
        self.document = b"".join(self.upload.body(PLAN["document_bytes"]))
        self.drafts = iter(submitter["drafts"])

    @task
    def attach_and_send(self) -> None:
        draft = next(self.drafts, None)
        if draft is None:
            raise StopUser()
        started = time.perf_counter()
        upload = (
            f"/inbox/{draft['reference']}/answer/{draft['section_id']}/files/{draft['answer_key']}"
        )
        headers = self.headers | {"Content-Type": self.upload.content_type}
        attached = self._post(upload, "attach 1 MB document", self.document, headers)
        sent = attached and self._post(
            f"/inbox/{draft['reference']}/answer/submit",
            "send",
            f"csrf_token={self.csrf}&declaration=yes".encode(),
            self.headers | {"Content-Type": "application/x-www-form-urlencoded"},
        )
        self.environment.events.request.fire(
            request_type="FLOW",
            name="attach 1 MB and send",
            response_time=(time.perf_counter() - started) * 1000,
            response_length=PLAN["document_bytes"],
            exception=None if sent else RuntimeError("not sent"),
            context={},
        )

    def _post(self, path: str, name: str, body: bytes, headers: dict[str, str]) -> bool:
        with self.client.post(
            path,
            data=body,  # type: ignore[arg-type]  # geventhttpclient sends bytes as they are
            headers=headers,
            name=name,
            allow_redirects=False,
            catch_response=True,
        ) as answer:
            location = answer.headers.get("Location", "") if answer.headers else ""
            ok = answer.status_code == 302 and "refused" not in location
            if not ok:
                answer.failure(f"{answer.status_code} {location}")
            return ok


COUNCIL = itertools.cycle(PLAN.get("council", []))


class CouncilReader(FastHttpUser):
    """A social worker opening My requests (bench/my_requests.py): one of the plan's paths
    (a page, or a filter) each time, with no pause."""

    wait_time = constant(0)

    def on_start(self) -> None:
        worker = next(COUNCIL)
        self.headers = {"Cookie": f"{COOKIE}={worker['token']}"}
        self.paths: list[str] = worker["paths"]

    @task
    def read(self) -> None:
        path = random.choice(self.paths)  # noqa: S311
        with self.client.get(
            path, headers=self.headers, name="my requests", catch_response=True
        ) as answer:
            body = answer.content or b""
            if answer.status_code != 200 or b'id="showing"' not in body:
                answer.failure(f"{answer.status_code}, not a page of My requests")
