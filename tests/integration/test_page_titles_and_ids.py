"""Each page's title says which page it is, and no page repeats an element id. Through the
real app: the social worker's request page once carried two `id="csrf_token"` inputs (its
extend and withdraw forms), the review and receipt pages of versions 1 and 2 shared a title,
and the start page's title said the service's name twice. (The browser tests check ids on
every page they reach: tests/support/people.py.)"""

from __future__ import annotations

import re
from collections import Counter
from datetime import timedelta
from html.parser import HTMLParser

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.datastructures import MultiDict

from portal.uk_time import uk_today
from tests.factories import csrf_token
from tests.integration.test_contributions import TEMPLATE, answer_everything, children_of, send
from tests.support.world import World, client_for, day_fields, issue


class _Ids(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: Counter[str] = Counter()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name == "id" and value is not None:
                self.ids[value] += 1


def repeated_ids(html: str) -> list[str]:
    parser = _Ids()
    parser.feed(html)
    return sorted(value for value, count in parser.ids.items() if count > 1)


def title(client: FlaskClient, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200, path
    found = re.search(r"<title>([^<]*)</title>", response.get_data(as_text=True))
    assert found, path
    return found.group(1).replace("&#39;", "'")


def test_the_request_page_with_both_forms_repeats_no_id(app: Flask, world: World) -> None:
    reference = issue(app, world)
    page = client_for(app, world.worker).get(f"/requests/{reference}").get_data(as_text=True)
    assert "Give the partner more time" in page and "Withdraw this request" in page
    assert page.count('name="csrf_token"') >= 2
    assert repeated_ids(page) == []


def test_the_start_page_names_the_service_once(client: FlaskClient) -> None:
    start = title(client, "/")
    assert start.count("Share information with children's services") == 1, start


def test_each_version_has_review_and_receipt_titles_of_its_own(app: Flask, world: World) -> None:
    reference = issue(app, world)
    teacher = client_for(app, world.teacher)
    worker = client_for(app, world.worker)
    answer_everything(teacher, reference, children_of(world))
    assert send(teacher, reference).status_code == 302
    token = csrf_token(worker.get(f"/requests/{reference}/versions/1").get_data(as_text=True))
    returned = worker.post(
        f"/requests/{reference}/versions/1/decision",
        data=MultiDict(
            [
                ("csrf_token", token),
                ("decision", "returned"),
                ("sections", TEMPLATE.sections[0].id),
                ("reason", "More please"),
                *day_fields("new_due_on", uk_today() + timedelta(days=5)),
            ]
        ),
    )
    assert returned.status_code == 302
    answer_everything(teacher, reference, children_of(world))
    assert send(teacher, reference).status_code == 302

    for client, path in (
        (worker, f"/requests/{reference}/versions/{{}}"),
        (teacher, f"/inbox/{reference}/receipts/{{}}"),
    ):
        first, second = title(client, path.format(1)), title(client, path.format(2))
        assert first != second
        assert f"{reference}, version 1" in first and f"{reference}, version 2" in second
