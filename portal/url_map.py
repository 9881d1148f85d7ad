"""The application's URL map: no route matches a path with a NUL byte in it, so such a path
is a 404 before any hook, view or query sees it. (PostgreSQL refuses NUL in text: a NUL that
reached a query answered 503 and logged a database error, so anyone could set off the alerts
for server errors.) Every other character is the views' to judge, as before."""

from __future__ import annotations

from typing import Any

from werkzeug.datastructures import ImmutableDict
from werkzeug.routing import Map, PathConverter, UnicodeConverter

_ONE_SEGMENT = "[^/]"


class SegmentConverter(UnicodeConverter):
    """Werkzeug's default (`<name>`, `<string:name>`), without NUL."""

    def __init__(self, map: Map, *args: Any, **kwargs: Any) -> None:
        super().__init__(map, *args, **kwargs)
        if not self.regex.startswith(_ONE_SEGMENT):
            raise RuntimeError(f"unexpected werkzeug converter pattern {self.regex!r}")
        self.regex = r"[^/\x00]" + self.regex.removeprefix(_ONE_SEGMENT)


class SlashedConverter(PathConverter):
    """Werkzeug's `<path:name>`, without NUL."""

    regex = r"[^/\x00][^\x00]*?"


class PortalMap(Map):
    default_converters = ImmutableDict(
        {
            **Map.default_converters,
            "default": SegmentConverter,
            "string": SegmentConverter,
            "path": SlashedConverter,
        }
    )
