"""Drive the development OpenID provider (infra/dev-oidc/server.mjs) from tests.

`DevOidcProvider` runs one node process serving several providers on loopback ports;
`sign_in_at_provider` and `sign_out_at_provider` play the person at the provider's pages with a
`requests.Session`, so a test can walk the real authorization-code and logout flows.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path
from types import TracebackType
from typing import IO, Any
from urllib.parse import urljoin, urlsplit

import requests
from cryptography.hazmat.primitives.asymmetric import rsa

REPO_ROOT = Path(__file__).resolve().parents[2]
SERVER = REPO_ROOT / "infra" / "dev-oidc" / "server.mjs"
HTTP_TIMEOUT = 10
MAX_STEPS = 15


def _b64_uint(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def rsa_private_jwk(kid: str) -> dict[str, Any]:
    """A new private RSA-2048 JWK for signing (alg RS256, use sig) with the given kid."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_numbers()
    public = private.public_numbers
    return {
        "kty": "RSA",
        "kid": kid,
        "alg": "RS256",
        "use": "sig",
        "n": _b64_uint(public.n),
        "e": _b64_uint(public.e),
        "d": _b64_uint(private.d),
        "p": _b64_uint(private.p),
        "q": _b64_uint(private.q),
        "dp": _b64_uint(private.dmp1),
        "dq": _b64_uint(private.dmq1),
        "qi": _b64_uint(private.iqmp),
    }


class DevOidcProvider:
    """Runs infra/dev-oidc/server.mjs with a config; a context manager.

    `providers` is the list under "providers" in the server's config (see
    infra/dev-oidc/README.md). Node's output goes to `log_path` when given; the last lines of
    stderr are kept for error messages either way.
    """

    def __init__(
        self, providers: list[dict[str, Any]], *, node: str = "node", log_path: Path | None = None
    ) -> None:
        self.providers = providers
        self.node = node
        self.log_path = log_path
        self._process: subprocess.Popen[str] | None = None
        self._workdir: Path | None = None
        self._stdout: deque[str] = deque(maxlen=200)
        self._stderr: deque[str] = deque(maxlen=50)
        self._ready = threading.Event()
        self._readers: list[threading.Thread] = []
        self._log_lock = threading.Lock()

    def issuer(self, name: str) -> str:
        for provider in self.providers:
            if provider["name"] == name:
                return f"http://127.0.0.1:{provider['port']}"
        raise KeyError(f"no provider named {name!r}")

    def start(self, timeout: float = 60) -> None:
        """Start node and wait until every provider listens; raise with stderr if it does not.
        The demo's eight providers each make their keys first: a clean-clone CI run saw four
        of them ready after 20 s, so the wait allows a loaded machine a minute."""
        if self._process is not None:
            raise RuntimeError("the development OpenID provider is already running")
        node = shutil.which(self.node)
        if node is None:
            raise RuntimeError(f"node not found ({self.node!r}); install Node.js")
        if not (REPO_ROOT / "node_modules" / "oidc-provider").is_dir():
            raise RuntimeError(f"oidc-provider is not installed: run `npm ci` in {REPO_ROOT}")
        # The config holds private keys: a private temporary directory, removed on stop().
        self._workdir = Path(tempfile.mkdtemp(prefix="dev-oidc-"))
        config = self._workdir / "config.json"
        with os.fdopen(os.open(config, os.O_WRONLY | os.O_CREAT, 0o600), "w") as handle:
            json.dump({"providers": self.providers}, handle)
        self._stdout.clear()
        self._stderr.clear()
        self._ready.clear()
        self._process = subprocess.Popen(
            [node, str(SERVER), str(config)],
            cwd=REPO_ROOT,
            # node exits when this pipe closes, so it never outlives a killed test run.
            env={**os.environ, "DEV_OIDC_WATCH_STDIN": "1"},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        assert self._process.stdout is not None and self._process.stderr is not None
        self._readers = [
            threading.Thread(target=self._drain, args=(self._process.stdout, "out"), daemon=True),
            threading.Thread(target=self._drain, args=(self._process.stderr, "err"), daemon=True),
        ]
        for reader in self._readers:
            reader.start()
        deadline = time.monotonic() + timeout
        while not self._ready.wait(0.05):
            if self._process.poll() is not None or time.monotonic() > deadline:
                why = "exited" if self._process.poll() is not None else f"not ready in {timeout}s"
                self.stop()
                raise RuntimeError(f"development OpenID provider {why}:\n{self.output_tail()}")

    def _drain(self, stream: IO[str], name: str) -> None:
        for line in stream:
            line = line.rstrip("\n")
            (self._stdout if name == "out" else self._stderr).append(line)
            if name == "out" and line == "all-ready":
                self._ready.set()
            if self.log_path is not None:
                with self._log_lock, self.log_path.open("a", encoding="utf-8") as log:
                    log.write(f"[{name}] {line}\n")

    def output_tail(self) -> str:
        """The last lines node wrote to stderr (and stdout), for failure messages."""
        return "stderr:\n" + "\n".join(self._stderr) + "\nstdout:\n" + "\n".join(self._stdout)

    @property
    def stdout_lines(self) -> list[str]:
        return list(self._stdout)

    def stop(self) -> None:
        """SIGTERM, wait, and kill if node does not go."""
        process, self._process = self._process, None
        if process is not None:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=5)
            for reader in self._readers:
                reader.join(timeout=5)
            for stream in (process.stdin, process.stdout, process.stderr):
                if stream is not None:
                    stream.close()
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    def restart(self, providers: list[dict[str, Any]] | None = None) -> None:
        """Stop and start again, optionally with a new config (e.g. new jwks: key rotation).

        All provider state (sessions, codes, tokens) is in memory and is lost.
        """
        self.stop()
        if providers is not None:
            self.providers = providers
        self.start()

    def __enter__(self) -> DevOidcProvider:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


class _Form:
    def __init__(self, attrs: dict[str, str]) -> None:
        self.id = attrs.get("id", "")
        self.action = attrs.get("action", "")
        self.method = attrs.get("method", "get").lower()
        self.fields: list[tuple[str, str, str]] = []  # (type, name, value)


class _FormParser(HTMLParser):
    """Collects forms and their inputs (buttons tied to a form by `form=` included)."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[_Form] = []
        self._open: _Form | None = None
        self._loose: list[tuple[str, tuple[str, str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {key: value or "" for key, value in attrs}
        if tag == "form":
            self._open = _Form(values)
            self.forms.append(self._open)
        elif tag in ("input", "button") and "name" in values:
            field = (values.get("type", "submit" if tag == "button" else "text"), values["name"])
            entry = (*field, values.get("value", ""))
            if "form" in values:
                self._loose.append((values["form"], entry))
            elif self._open is not None:
                self._open.fields.append(entry)

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._open = None

    def close(self) -> None:
        super().close()
        for form_id, entry in self._loose:
            for form in self.forms:
                if form.id == form_id:
                    form.fields.append(entry)


def _forms(html: str) -> list[_Form]:
    parser = _FormParser()
    parser.feed(html)
    parser.close()
    return parser.forms


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _hidden(form: _Form) -> dict[str, str]:
    return {name: value for kind, name, value in form.fields if kind == "hidden"}


_Choice = tuple[_Form, dict[str, str]] | None


def _walk(
    browser: requests.Session, url: str, choose: Callable[[list[_Form]], _Choice]
) -> tuple[str, requests.Response]:
    """Follow the provider's redirects and pages, submitting forms as `choose` decides.

    Returns (first URL outside the provider, "") or ("", the provider's final page).
    """
    provider = _origin(url)
    response = browser.get(url, allow_redirects=False, timeout=HTTP_TIMEOUT)
    for _ in range(MAX_STEPS):
        if response.is_redirect:
            target = urljoin(response.url, response.headers["Location"])
            if _origin(target) != provider:
                return target, response
            response = browser.get(target, allow_redirects=False, timeout=HTTP_TIMEOUT)
            continue
        if response.status_code >= 400:
            raise AssertionError(f"provider error {response.status_code}:\n{response.text}")
        submission = choose(_forms(response.text))
        if submission is None:
            return "", response
        form, data = submission
        target = urljoin(response.url, form.action)
        if _origin(target) != provider:
            raise AssertionError(f"the provider posts a form outside itself ({target})")
        response = browser.post(target, data=data, allow_redirects=False, timeout=HTTP_TIMEOUT)
    raise AssertionError(f"the provider did not finish in {MAX_STEPS} steps:\n{response.text}")


def sign_in_at_provider(browser: requests.Session, authorize_url: str, sub: str) -> str:
    """Follows the authorization URL to the interaction page, submits `sub`, follows the
    provider's own redirects, and returns the first redirect URL that points outside the
    provider (the client's callback with code and state). Raises AssertionError with the page
    text on a provider error."""

    def choose(forms: list[_Form]) -> _Choice:
        for form in forms:
            if any(name == "sub" for _, name, _ in form.fields):
                return form, {**_hidden(form), "sub": sub}
        # An auto-submitting page (the library's form_post, e.g. when switching accounts).
        posts = [form for form in forms if form.method == "post" and _hidden(form)]
        return (posts[0], _hidden(posts[0])) if posts else None

    target, response = _walk(browser, authorize_url, choose)
    if not target:
        raise AssertionError(f"the provider did not redirect back:\n{response.text}")
    return target


def sign_out_at_provider(browser: requests.Session, end_session_url: str) -> str:
    """Follows the end-session URL, confirms the logout form, returns the URL the provider
    finally redirects to outside itself (the post_logout_redirect_uri) or '' if none."""

    def choose(forms: list[_Form]) -> _Choice:
        for form in forms:
            if form.method == "post" and "xsrf" in _hidden(form):
                return form, {**_hidden(form), "logout": "yes"}
        return None

    target, _ = _walk(browser, end_session_url, choose)
    return target
