"""The demo's identity providers for tests: the registry file with test secrets on chosen
loopback ports, and the app context the demo seed needs to seal what it writes."""

from __future__ import annotations

import tomllib

from flask import Flask

from portal.auth.oidc.provider_spec import ProviderSpec
from portal.crypto import FileKeyring, runtime
from portal.demo.identity import REGISTRY_FILE, UNREGISTERED

TEST_SECRET = "demo-client-secret-for-tests"  # noqa: S105 - a test provider's client secret


def providers_on(
    ports: dict[str, int] | None = None, table: str = "provider"
) -> list[tuple[ProviderSpec, str | None]]:
    """The demo's registry file, with test secrets and (optionally) other loopback ports."""
    with REGISTRY_FILE.open("rb") as handle:
        entries = tomllib.load(handle)[table]
    providers = []
    for entry in entries:
        entry = {k: v for k, v in entry.items() if k != "client_secret_file"}
        if ports:
            entry["issuer"] = f"http://127.0.0.1:{ports[entry['slug']]}"
        spec = ProviderSpec.model_validate(entry)
        private = spec.client_auth_method.value == "private_key_jwt"
        providers.append((spec, None if private else TEST_SECRET))
    return providers


def unregistered_on(ports: dict[str, int] | None = None) -> list[tuple[ProviderSpec, str | None]]:
    """The demo's providers that the portal has not registered, like `providers_on`."""
    return providers_on(ports, UNREGISTERED)


class runtime_keyring:  # noqa: N801 - a context manager
    """The seed seals with the app's keyring; outside an app, lend it the test keyring."""

    def __init__(self, keyring: FileKeyring) -> None:
        self.app = Flask("seed")
        runtime.init_app(self.app, keyring)
        self.context = self.app.app_context()

    def __enter__(self) -> None:
        self.context.push()

    def __exit__(self, *exc: object) -> None:
        self.context.pop()
