"""The WSGI entry point for gunicorn: `gunicorn portal.wsgi:app`."""

import sys

from portal import ConfigError, create_app, db

try:
    app = create_app()
except ConfigError as error:
    print(f"portal: {error}", file=sys.stderr)  # noqa: T201 - start-up refusal, before logging
    raise SystemExit(2) from None

# gunicorn builds the app once and then forks its workers (preload_app). Connections the
# start-up checks opened must not be inherited: two processes on one connection corrupt each
# other's transactions. Each worker opens its own on first use.
db.database(app).engine.dispose()
