"""The WSGI entry point for gunicorn: `gunicorn portal.wsgi:app`."""

import sys

from portal import ConfigError, create_app

try:
    app = create_app()
except ConfigError as error:
    print(f"portal: {error}", file=sys.stderr)  # noqa: T201 - start-up refusal, before logging
    raise SystemExit(2) from None
