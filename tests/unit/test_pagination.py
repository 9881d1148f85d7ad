"""GOV.UK pagination's parameters (portal/pagination.py): the first and last pages, this one
and its neighbours, an ellipsis for each gap, and no previous or next link past the ends."""

from __future__ import annotations

from portal.pagination import govuk_pagination


def shown(number: int, pages: int) -> list[str]:
    found = govuk_pagination(number, pages, lambda page: f"/list?page={page}")
    return [
        "…"
        if item.get("ellipsis")
        else f"[{item['number']}]"
        if item["current"]
        else str(item["number"])
        for item in found["items"]
    ]


def test_one_page_is_just_itself() -> None:
    found = govuk_pagination(1, 1, lambda page: f"/list?page={page}")
    assert shown(1, 1) == ["[1]"]
    assert found["previous"] is None and found["next"] is None


def test_the_ends_and_the_neighbours_with_gaps_between() -> None:
    assert shown(1, 9) == ["[1]", "2", "…", "9"]
    assert shown(5, 9) == ["1", "…", "4", "[5]", "6", "…", "9"]
    assert shown(9, 9) == ["1", "…", "8", "[9]"]
    assert shown(3, 5) == ["1", "2", "[3]", "4", "5"]


def test_previous_and_next_keep_the_address_each_page_is_given() -> None:
    found = govuk_pagination(2, 3, lambda page: f"/requests?page={page}&status=issued")
    assert found["previous"] == {"number": 1, "href": "/requests?page=1&status=issued"}
    assert found["next"] == {"number": 3, "href": "/requests?page=3&status=issued"}
