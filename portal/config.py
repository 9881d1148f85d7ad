"""Settings: a TOML file from config/ plus PORTAL_* environment overrides, production by default.

Anything missing or unsafe stops start-up with a `ConfigError` whose message is one sentence
saying what is wrong and how to fix it.
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from portal.private_files import PrivateFileError, read_private_file
from portal.settings import (
    AuditSettings,
    CmsSettings,
    Environment,
    NotificationSettings,
    Settings,
)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CONFIG_DIR = PROJECT_ROOT / "config"
ENV_PREFIX = "PORTAL_"
ENVIRONMENTS = ("production", "demo", "test", "bench")
MIN_SECRET_KEY_LENGTH = 32


__all__ = [
    "CONFIG_DIR",
    "ConfigError",
    "PROJECT_ROOT",
    "Settings",
    "is_loopback_host",
    "load_settings",
    "read_secret_key",
]


class ConfigError(Exception):
    """The configuration cannot be used; the message says what to change."""


# Hints for the settings a newcomer is most likely to be missing. A missing section is
# reported as its required setting.
_MISSING_HINTS: dict[tuple[str, ...], str] = {
    ("database", "url"): "No database URL is configured",
    ("keyring", "path"): "No keyring file is configured",
}
_REQUIRED_IN_SECTION: dict[tuple[str, ...], tuple[str, ...]] = {
    ("database",): ("database", "url"),
    ("keyring",): ("keyring", "path"),
}


def load_settings(
    environ: Mapping[str, str] | None = None, overrides: Mapping[str, Any] | None = None
) -> Settings:
    """Read the settings for the environment named by PORTAL_ENV (production when unset)."""
    environ = os.environ if environ is None else environ
    environment = _environment(environ)
    path = _config_path(environment, environ)
    data = _read_toml(path) if path is not None else {}
    data = _merge(data, _environment_overrides(environ))
    data = _merge(data, dict(overrides or {}))
    data["environment"] = environment
    data["source"] = str(path) if path else "environment variables"
    try:
        settings = Settings.model_validate(data)
    except ValidationError as error:
        raise ConfigError(_explain(error, data["source"])) from None
    settings = _resolve_paths(settings)
    _refuse_unsafe(settings)
    return settings


def read_secret_key(settings: Settings) -> str:
    """Return the session-signing secret from the environment or its file, or stop start-up."""
    security = settings.security
    if security.secret_key:
        secret = security.secret_key
    elif security.secret_key_file is not None:
        secret = read_secret_text(security.secret_key_file, "Secret key file")
    else:
        raise ConfigError(
            "No secret key is configured: set PORTAL_SECURITY__SECRET_KEY or point "
            "[security] secret_key_file at a file made by `portal secret-key create`."
        )
    if len(secret) < MIN_SECRET_KEY_LENGTH:
        raise ConfigError(
            f"The secret key is shorter than {MIN_SECRET_KEY_LENGTH} characters: generate a new "
            "one with `portal secret-key create`."
        )
    return secret


def read_secret_text(path: Path, what: str) -> str:
    """A secret made by `portal secret-key create`, from a file only its owner can read, or
    stop start-up in one sentence."""
    try:
        data = read_private_file(path, what, f"portal secret-key create --path {path}", 4096)
    except PrivateFileError as error:
        raise ConfigError(str(error)) from None
    return data.decode("utf-8", errors="replace").strip()


def _environment(environ: Mapping[str, str]) -> Environment:
    name = environ.get(f"{ENV_PREFIX}ENV", "production").strip().lower() or "production"
    if name not in ENVIRONMENTS:
        raise ConfigError(
            f"PORTAL_ENV is {name!r}, which is not an environment this portal knows: "
            f"use one of {', '.join(ENVIRONMENTS)}."
        )
    return name  # type: ignore[return-value]


def _config_path(environment: Environment, environ: Mapping[str, str]) -> Path | None:
    explicit = environ.get(f"{ENV_PREFIX}CONFIG")
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise ConfigError(
                f"PORTAL_CONFIG names {path}, which is not a file: correct the path or unset it."
            )
        return path
    path = CONFIG_DIR / f"{environment}.toml"
    if path.is_file():
        return path
    if environment == "production":
        # Production may be configured by environment variables alone.
        return None
    raise ConfigError(f"The configuration file {path} is missing: restore it from git.")


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"The configuration file {path} is not valid TOML: {error}.") from None


def _environment_overrides(environ: Mapping[str, str]) -> dict[str, Any]:
    """PORTAL_SECTION__KEY=value becomes {"section": {"key": value}}."""
    overrides: dict[str, Any] = {}
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX) or "__" not in name:
            continue
        section, _, key = name[len(ENV_PREFIX) :].lower().partition("__")
        if section and key:
            overrides.setdefault(section, {})[key] = value
    return overrides


def _merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merge(dict(merged[key]), value)
        else:
            merged[key] = value
    return merged


def _explain(error: ValidationError, source: str) -> str:
    first = error.errors()[0]
    location = tuple(str(part) for part in first["loc"])
    location = _REQUIRED_IN_SECTION.get(location, location)
    variable = ENV_PREFIX + "__".join(part.upper() for part in location)
    setting = f"[{location[0]}] {'.'.join(location[1:])}" if len(location) > 1 else location[0]
    where = (
        f"set {setting} in {source} or the {variable} environment variable"
        if source.endswith(".toml")
        else f"set the {variable} environment variable (or name a settings file in PORTAL_CONFIG)"
    )
    if first["type"] == "missing":
        what = _MISSING_HINTS.get(location, f"The setting {setting} is missing")
        return f"{what}: {where}."
    if first["type"] == "extra_forbidden":
        return (
            f"The setting {setting} (from {source} or the {variable} environment variable) is "
            "not one this portal knows: remove it."
        )
    return f"The setting {setting} is invalid ({first['msg']}): {where}."


# The settings that name files or directories, by section: relative ones are taken from the
# project root, not the working directory.
_PATH_FIELDS = {
    "keyring": ("path",),
    "security": ("secret_key_file",),
    "audit": (
        "signing_key_file",
        "trusted_public_key_files",
        "witness_directory",
        "tsa_certificate_file",
    ),
    "requests": ("forms_directory",),
    "attachments": ("storage_directory",),
    "cms": ("client_secret_file", "mapping_file"),
}


def _resolve_paths(settings: Settings) -> Settings:
    """Relative paths in the settings are relative to the project root, not the working dir."""
    update: dict[str, Any] = {
        section: _absolute_fields(getattr(settings, section), names)
        for section, names in _PATH_FIELDS.items()
    }
    update["database"] = settings.database.model_copy(
        update={"url": _absolute_sqlite_url(settings.database.url)}
    )
    return settings.model_copy(update=update)


def _absolute(path: Path) -> Path:
    return path if path.is_absolute() else PROJECT_ROOT / path


def _absolute_fields(section: BaseModel, names: tuple[str, ...]) -> BaseModel:
    changes: dict[str, Any] = {}
    for name in names:
        value = getattr(section, name)
        if isinstance(value, list):
            changes[name] = [_absolute(path) for path in value]
        elif value is not None:
            changes[name] = _absolute(value)
    return section.model_copy(update=changes)


def _absolute_sqlite_url(url: str) -> str:
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        relative = url.removeprefix("sqlite:///")
        if relative and relative != ":memory:":
            return f"sqlite:///{_absolute(Path(relative))}"
    return url


def _refuse_unsafe(settings: Settings) -> None:
    if not settings.is_production:
        return
    if not settings.service.base_url.startswith("https://"):
        raise ConfigError(
            "Production must be reached over HTTPS: set [service] base_url to an https:// address."
        )
    if not settings.security.session_cookie_secure:
        raise ConfigError(
            "Production must send cookies over HTTPS only: set [security] "
            "session_cookie_secure = true."
        )
    if settings.audit.signing_key_file is None:
        raise ConfigError(
            "Production signs audit checkpoints with a key kept outside the database: create one "
            "with `portal audit create-signing-key --path PATH` and set [audit] signing_key_file."
        )
    _refuse_unwitnessed_audit(settings.audit)
    if settings.database.url.startswith("sqlite"):
        raise ConfigError(
            "Production needs PostgreSQL, not SQLite: set [database] url to a "
            "postgresql+psycopg:// URL."
        )
    if settings.attachments.scanner == "none":
        raise ConfigError(
            "Production must scan uploaded files for malware: set [attachments] scanner = "
            '"clamd" and point clamd_socket (or clamd_host) at a running clamd.'
        )
    _refuse_unsafe_notifications(settings.notifications)
    _refuse_unsafe_cms(settings.cms)


def _refuse_unwitnessed_audit(audit: AuditSettings) -> None:
    """The audit log's checkpoints must reach witnesses the database's owner cannot rewrite
    (docs/audit.md): without them a superuser could rewrite the log and its checkpoints."""
    if audit.witness_directory is None:
        raise ConfigError(
            "Production keeps every audit checkpoint outside the database too: set [audit] "
            "witness_directory to a directory on another volume, writable by the sequencer."
        )
    if not audit.tsa_url or audit.tsa_certificate_file is None:
        raise ConfigError(
            "Production has every audit checkpoint time-stamped: set [audit] tsa_url to the "
            "council's RFC 3161 time-stamping authority and tsa_certificate_file to its root."
        )


def _refuse_unsafe_cms(cms: CmsSettings) -> None:
    if cms.adapter == "none":
        raise ConfigError(
            "Production delivers accepted contributions to the case management system: set "
            '[cms] adapter to "reference" or "generic" with its base_url and credentials.'
        )
    if cms.base_url is None or not cms.base_url.startswith("https://"):
        raise ConfigError(
            "Production reaches the case management system over HTTPS only: set [cms] "
            "base_url to an https:// address."
        )


def _refuse_unsafe_notifications(notifications: NotificationSettings) -> None:
    if notifications.sender == "none":
        raise ConfigError(
            "Production must tell people about their requests: set [notifications] sender to "
            '"smtp" or "notify".'
        )
    if (
        notifications.sender == "smtp"
        and not notifications.smtp_starttls
        and not is_loopback_host(notifications.smtp_host)
    ):
        raise ConfigError(
            "Production sends e-mail to a relay on another host only over TLS: set "
            "[notifications] smtp_starttls = true (or relay through 127.0.0.1)."
        )
    if notifications.sender == "notify" and not notifications.notify_base_url.startswith(
        "https://"
    ):
        raise ConfigError(
            "Production reaches GOV.UK Notify over HTTPS only: set [notifications] "
            "notify_base_url to an https:// address."
        )
    if notifications.sender == "notify" and notifications.notify_api_key_file is None:
        raise ConfigError(
            "GOV.UK Notify needs an API key: save it in a file only the service account can "
            "read and set [notifications] notify_api_key_file."
        )
    if notifications.sender == "smtp" and bool(notifications.smtp_username) != bool(
        notifications.smtp_password_file
    ):
        raise ConfigError(
            "SMTP sign-in needs both a user name and a password file: set [notifications] "
            "smtp_username and smtp_password_file together, or neither."
        )


def is_loopback_host(host: str) -> bool:
    """Whether `host` names this machine (so plain SMTP to it never crosses a network)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
