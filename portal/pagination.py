"""GOV.UK pagination for the lists a page at a time (the inbox, My requests, Your cases), and
what each does with the page number it is asked for: page 1 for none, 0, a negative or not a
number; past the last page, a redirect to the last page with the same filters."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from flask import redirect
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response


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


# No list reaches it (and no database offset can hold much more).
LAST_PAGE = 100_000


def asked_page(value: str | None) -> int:
    """The page `?page=` asks for: missing, not a whole number, 0 or less is page 1; past
    LAST_PAGE, LAST_PAGE (which no list reaches: it is sent on to its last page)."""
    try:
        number = int(value or "1")
    except ValueError:
        return 1
    return min(max(number, 1), LAST_PAGE)


def pages_of(total: int, size: int) -> int:
    """How many pages `total` rows make, `size` a page: at least one, even for none."""
    return max(1, -(-total // size))


def count_of(session: Session, page_query: sa.Select[*tuple[Any, ...]]) -> int:
    """Every row a page's query lists on all its pages together, counted on its own: for a
    page past the end, which has no row to carry the query's own count."""
    every = page_query.limit(None).offset(None).order_by(None).subquery()
    return session.scalar(sa.select(sa.func.count()).select_from(every)) or 0


def to_last_page(number: int, pages: int, href: Callable[[int], str]) -> Response | None:
    """Past a list's last page (a bookmark, a list that has shrunk since): a redirect to its
    last page, keeping whatever it is filtered by (`href`), rather than "Page not found"."""
    return redirect(href(pages)) if number > pages else None
