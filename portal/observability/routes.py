"""GET /metrics for Prometheus, behind a bearer token. To anyone without the token it is an
address that does not exist (404), so it is neither advertised nor guessable by its answer."""

from __future__ import annotations

import hmac

from flask import Blueprint, Flask, abort, current_app, request
from flask.typing import ResponseReturnValue
from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4, generate_latest

from portal import db
from portal.auth.policy import AccessRule, access
from portal.config import PROJECT_ROOT, ConfigError, read_secret_text
from portal.observability.metrics import scrape_registry
from portal.settings import Settings

# Open as far as sign-in goes; the view itself answers 404 unless the request carries the
# configured token, and always 404 when none is configured.
METRICS_TOKEN = AccessRule(
    "the metrics scraper, by the bearer token in [observability] metrics_token_file (404 "
    "to everyone else)",
    needs_sign_in=False,
)
MIN_TOKEN_LENGTH = 32
_EXTENSION = "portal.metrics_token"

blueprint = Blueprint("observability", __name__)


@blueprint.get("/metrics")
@access(METRICS_TOKEN)
def metrics() -> ResponseReturnValue:
    if not _bearer_token_matches():
        abort(404)
    body = generate_latest(scrape_registry(current_app, db.database().sessions))
    return body, 200, {"Content-Type": CONTENT_TYPE_PLAIN_0_0_4}


def _bearer_token_matches() -> bool:
    expected: bytes | None = current_app.extensions.get(_EXTENSION)
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    if expected is None or scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(presented.strip().encode("utf-8", "replace"), expected)


def load_metrics_token(app: Flask, settings: Settings) -> None:
    """Read the token once at start-up; an unusable file stops start-up in one sentence."""
    path = settings.observability.metrics_token_file
    if path is None:
        return
    path = path if path.is_absolute() else PROJECT_ROOT / path
    token = read_secret_text(path, "Metrics token file")
    if len(token) < MIN_TOKEN_LENGTH or any(ord(c) < 33 or ord(c) > 126 for c in token):
        raise ConfigError(
            f"The metrics token in {path} must be at least {MIN_TOKEN_LENGTH} printable "
            "characters without spaces: make a new one with `portal secret-key create`."
        )
    app.extensions[_EXTENSION] = token.encode("ascii")
