"""Signed-in people using the portal over HTTP from threads, every answer kept: a social worker
issuing requests, a teacher answering and sending them, a colleague reading pages. Each
journey starts again after any failure, as a person would retry."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import requests

from tests.factories import csrf_token
from tests.integration.test_contributions import TEMPLATE, section_form
from tests.support.world import World, request_form

TIMEOUT = 30


@dataclass(frozen=True)
class Answer:
    at: float  # time.monotonic()
    who: str
    method: str
    path: str
    status: int  # 0: no HTTP answer at all
    body: str  # kept for anything but a success or a redirect


class JourneyFailed(Exception):
    pass


@dataclass
class Load:
    """The people, what they have done, and every answer they had."""

    base_url: str
    cookie_name: str
    world: World
    answers: list[Answer] = field(default_factory=list)
    issued: list[str] = field(default_factory=list)
    submitted: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def person(self, who: str, token: str) -> SignedInClient:
        return SignedInClient(self, who, token)

    def keep(self, answer: Answer) -> None:
        with self._lock:
            self.answers.append(answer)

    def run(self, journeys: list[Callable[[], None]]) -> list[threading.Thread]:
        threads = [threading.Thread(target=self._repeat, args=(j,), daemon=True) for j in journeys]
        for thread in threads:
            thread.start()
        return threads

    def _repeat(self, journey: Callable[[], None]) -> None:
        while not self.stop.is_set():
            try:
                journey()
            except JourneyFailed:
                time.sleep(0.1)


class SignedInClient:
    """One person over HTTP: a requests session carrying their portal session cookie."""

    def __init__(self, load: Load, who: str, token: str) -> None:
        self.load = load
        self.who = who
        self.http = requests.Session()
        self.http.cookies.set(load.cookie_name, token)

    def call(
        self, method: str, path: str, data: object = None, expect: tuple[int, ...] = (200,)
    ) -> str:
        """The page's text (a redirect's Location) if it answered one of `expect`; otherwise
        JourneyFailed. Every answer is kept for the test to examine."""
        try:
            answer = self.http.request(
                method,
                self.load.base_url + path,
                data=data,
                allow_redirects=False,
                timeout=TIMEOUT,
            )
            status, text = answer.status_code, answer.text
            location = answer.headers.get("Location", "")
        except requests.RequestException as error:
            status, text, location = 0, type(error).__name__, ""
        kept = "" if status in (200, 302) else text
        self.load.keep(Answer(time.monotonic(), self.who, method, path, status, kept))
        if status not in expect:
            raise JourneyFailed(f"{method} {path}: {status}")
        return location if status == 302 else text


def issue_requests(load: Load, worker: SignedInClient) -> Callable[[], None]:
    """The social worker issues a request on the case: form, check page, send."""

    def journey() -> None:
        path = f"/requests/new/{load.world.case.cms_reference}"
        token = csrf_token(worker.call("GET", path))
        fields = request_form(load.world, token)
        worker.call("POST", path, list(fields.items(multi=True)))
        sent = worker.call("POST", path, [*fields.items(multi=True), ("step", "issue")], (302,))
        found = re.search(r"/requests/(DR-[0-9A-Z]{8})", sent)
        if found is None:
            raise AssertionError(f"issuing sent the browser to {sent}")
        load.issued.append(found.group(1))

    return journey


def confirm_children(load: Load, teacher: SignedInClient, reference: str) -> None:
    """Before the questions: the teacher says it knows every child (once; the page refuses a
    change after a version is sent, and a retried journey may find it already done)."""
    page = teacher.call("GET", f"/inbox/{reference}/children", expect=(200, 302))
    if page.startswith("/inbox/") or 'name="known-' not in page:
        return  # closed, or confirmed and sent already
    form = {"csrf_token": csrf_token(page)}
    for child in load.world.case.children:
        form[f"known-{child.id}"] = "known"
        form[f"matched-{child.id}"] = "name_and_date_of_birth"
    teacher.call("POST", f"/inbox/{reference}/children", form, (302,))


def answer_and_send(load: Load, teacher: SignedInClient) -> Callable[[], None]:
    """The teacher answers every section of the oldest request not yet sent, and sends it."""
    children = [str(child.id) for child in load.world.case.children]

    def journey() -> None:
        waiting = [r for r in load.issued if r not in load.submitted]
        if not waiting:
            time.sleep(0.1)
            return
        reference = waiting[0]
        confirm_children(load, teacher, reference)
        for section in TEMPLATE.sections:
            path = f"/inbox/{reference}/answer/{section.id}"
            page = teacher.call("GET", path, expect=(200, 302))
            if page.startswith("/inbox/"):
                # No longer answerable: a send whose answer was lost had in fact gone through.
                load.submitted.append(reference)
                return
            form = section_form(csrf_token(page), section, children, "continue")
            teacher.call("POST", path, list(form.items(multi=True)), (302,))
        check = teacher.call("GET", f"/inbox/{reference}/answer/check")
        sent = {"csrf_token": csrf_token(check), "declaration": "yes"}
        teacher.call("POST", f"/inbox/{reference}/answer/submit", sent, (302,))
        load.submitted.append(reference)

    return journey


def read_pages(load: Load, colleague: SignedInClient, reference: str) -> Callable[[], None]:
    def journey() -> None:
        for path in ("/inbox", f"/inbox/{reference}", "/"):
            colleague.call("GET", path)

    return journey
