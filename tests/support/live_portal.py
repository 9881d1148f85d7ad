"""The portal served for real on a loopback port, on a PostgreSQL database of its own.

For tests where something else must call the portal over HTTP (an identity provider fetching
its published keys or delivering a back-channel logout), and `Browser`, a person's browser
with cookies for the portal and for their provider.
"""

from __future__ import annotations

import html
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from werkzeug.serving import make_server

from loopback.databases import create_database, drop_database, migrated_engine
from loopback.processes import free_port
from portal import create_app, db
from portal.crypto import FileKeyring
from tests.conftest import test_settings
from tests.support.dev_oidc import sign_in_at_provider

HTTP_TIMEOUT = 10


@dataclass
class LiveStack:
    portal_url: str
    engine: Engine

    def session(self) -> Session:
        return Session(self.engine)


@contextmanager
def live_portal(
    postgres_admin: Engine, keyring: FileKeyring, keyring_path: Path, **sections: Any
) -> Iterator[LiveStack]:
    url = create_database(postgres_admin, "live")
    engine = migrated_engine(url, keyring)
    port = free_port()
    portal_url = f"http://127.0.0.1:{port}"
    settings = test_settings(url, keyring_path, service={"base_url": portal_url}, **sections)
    app = create_app(settings)
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield LiveStack(portal_url, engine)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
        db.database(app).engine.dispose()
        engine.dispose()
        drop_database(postgres_admin, url)


def onward(response: requests.Response) -> str:
    """Where the portal sends the browser next: a redirect's Location, or the address of the
    page that ends a form on the way to an identity provider (auth/leaving.html: an instant
    refresh, since the CSP keeps forms from redirecting off the portal)."""
    if response.is_redirect:
        return response.headers["Location"]
    assert response.status_code == 200, response.text[:500]
    found = re.search(r'<meta http-equiv="refresh" content="0; url=([^"]+)">', response.text)
    assert found, response.text[:2000]
    return html.unescape(found.group(1))


class Browser:
    """One person's browser: cookies for the portal and for their identity provider."""

    def __init__(self, stack: LiveStack) -> None:
        self.stack = stack
        self.http = requests.Session()

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        url = self.stack.portal_url + path
        return self.http.get(url, allow_redirects=False, timeout=HTTP_TIMEOUT, **kwargs)

    def sign_in(self, slug: str, sub: str, next_path: str | None = None) -> requests.Response:
        """Start at the portal, sign in at the provider, and return the portal's answer to
        the callback (not followed)."""
        query = {"next": next_path} if next_path else None
        start = self.get(f"/sign-in/start/{slug}", params=query)
        assert start.status_code == 302, start.text
        authorize = start.headers["Location"]
        assert "code_challenge_method=S256" in authorize and "nonce=" in authorize
        callback = sign_in_at_provider(self.http, authorize, sub)
        assert callback.startswith(self.stack.portal_url + f"/sign-in/callback/{slug}?")
        return self.http.get(callback, allow_redirects=False, timeout=HTTP_TIMEOUT)

    def signed_in_as(self) -> str | None:
        page = self.get("/")
        found = re.search(r"Signed in as ([^,]+),", page.text)
        return found.group(1) if found else None

    def csrf(self) -> str:
        found = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', self.get("/sign-in").text)
        assert found
        return found.group(1)

    def sign_out(self) -> requests.Response:
        return self.http.post(
            self.stack.portal_url + "/sign-out",
            data={"csrf_token": self.csrf()},
            allow_redirects=False,
            timeout=HTTP_TIMEOUT,
        )
