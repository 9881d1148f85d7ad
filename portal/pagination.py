"""GOV.UK pagination for the lists a page at a time (My requests, Your cases)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def govuk_pagination(number: int, pages: int, href: Callable[[int], str]) -> dict[str, Any]:
    """govukPagination's parameters for page `number` of `pages`: the first and last pages,
    this one and its neighbours, and an ellipsis for each gap (GOV.UK's pattern for long
    lists). `href` gives each page's address, keeping whatever else the list is filtered by."""

    def link(page: int) -> dict[str, Any]:
        return {"number": page, "href": href(page)}

    around = range(max(1, number - 1), min(pages, number + 1) + 1)
    items: list[dict[str, Any]] = []
    for page in sorted({1, *around, pages}):
        if items and page > items[-1]["number"] + 1:
            items.append({"ellipsis": True, "number": page - 1})
        items.append(link(page) | {"current": page == number})
    return {
        "items": items,
        "previous": link(number - 1) if number > 1 else None,
        "next": link(number + 1) if number < pages else None,
    }
