"""Log records as one JSON object per line (or one readable line for the demo), each carrying
the request it belongs to: its id, the signed-in person's internal id, the method and the
Flask endpoint. Never a path's query string, a form, a name or an exception's message.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import traceback
from datetime import UTC, datetime
from typing import Any, Literal, TextIO

from portal.observability.request_log import add_request_context

LogFormat = Literal["json", "text"]

# Set on records by the request filter, or passed as `extra` by the access line. Only these
# reach the output: anything else a caller attaches to a record is left out.
CONTEXT_FIELDS = ("request_id", "user_id", "method", "endpoint")
ACCESS_FIELDS = ("status", "duration_ms")
# Libraries that log at INFO what operators do not need (each migration step, each
# connection, the development SMTP server's every client): heard from at WARNING and above.
_QUIET_LOGGERS = ("alembic", "urllib3", "werkzeug", "mail.log")

_chosen_format: LogFormat = "json"

# A query string in a logged address: gunicorn's own records name a failing request by its
# whole URI ("Error handling request /path?query"), and its warnings quote bad request lines.
_QUERY_STRING = re.compile(r"(/[^\s?\"']*)\?[^\s\"']*")


def _utc_time(record: logging.LogRecord) -> str:
    moment = datetime.fromtimestamp(record.created, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _exception_frames(record: logging.LogRecord) -> str | None:
    """Where an exception happened and its type, never its message: a message can carry what
    the code was handling (a child's name, an answer)."""
    if not record.exc_info or record.exc_info[0] is None:
        return None
    kind, _error, trace = record.exc_info
    frames = "".join(traceback.format_tb(trace)) if trace else ""
    return f"Traceback (most recent call last):\n{frames}{kind.__name__}"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": _utc_time(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in CONTEXT_FIELDS + ACCESS_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        exception = _exception_frames(record)
        if exception:
            entry["exception"] = exception
        if record.stack_info:
            entry["stack"] = record.stack_info
        return json.dumps(entry, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """`time LEVEL logger [request id] message` (an access line adds its duration), with an
    exception's frames below."""

    def format(self, record: logging.LogRecord) -> str:
        request_id = getattr(record, "request_id", None)
        reference = f" [{request_id}]" if request_id else ""
        line = f"{_utc_time(record)} {record.levelname} {record.name}{reference} "
        line += record.getMessage()
        duration = getattr(record, "duration_ms", None)
        if duration is not None:
            line += f" {duration} ms"
        exception = _exception_frames(record)
        return f"{line}\n{exception}" if exception else line


class StderrHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever sys.stderr is when a record is written, not when the handler was
    made, so a replaced stderr (a test's capture, a daemon's redirection) is followed."""

    portal_handler = True

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        pass


def drop_query_strings(record: logging.LogRecord) -> bool:
    """A logging filter: a server's record loses any query string it quotes (the portal's own
    records never carry one)."""
    if record.name.startswith("gunicorn"):
        message = record.getMessage()
        cleaned = _QUERY_STRING.sub(r"\1?…", message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
    return True


def formatter_for(log_format: LogFormat) -> logging.Formatter:
    return JsonFormatter() if log_format == "json" else TextFormatter()


def portal_handler() -> logging.Handler:
    """The stderr handler in the format last configured: what gunicorn's logconfig_dict
    installs on the root logger, so its own records share the portal's format."""
    handler = StderrHandler()
    handler.setFormatter(formatter_for(_chosen_format))
    handler.addFilter(add_request_context)
    handler.addFilter(drop_query_strings)
    return handler


def configure_logging(log_format: LogFormat) -> None:
    """One handler on the root logger, writing `log_format` to stderr; any handler put there
    by an earlier call is replaced, and other handlers (a test's capture) are left alone."""
    global _chosen_format
    _chosen_format = log_format
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "portal_handler", False):
            root.removeHandler(handler)
    root.addHandler(portal_handler())
    root.setLevel(logging.INFO)
    for name in _QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
