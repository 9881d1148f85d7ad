"""Unit tests for portal.config: loading settings, refusing unsafe ones, reading the secret key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from portal.config import CONFIG_DIR, PROJECT_ROOT, ConfigError, load_settings, read_secret_key

POSTGRES_URL = "postgresql+psycopg://portal_app@db.internal:5432/portal"
# The witnesses of the audit log's checkpoints, which production requires.
AUDIT_WITNESSES = {
    "PORTAL_AUDIT__WITNESS_DIRECTORY": "/var/lib/portal-witness",
    "PORTAL_AUDIT__TSA_URL": "https://tsa.northmoor.example/",
    "PORTAL_AUDIT__TSA_CERTIFICATE_FILE": "/etc/portal/tsa-root.pem",
}
SECRET = "unit-test-secret-0123456789abcdefghijklmnop"  # fake, 43 characters


def names_setting(message: str, section: str, key: str | None = None) -> bool:
    """The message names the setting, as `section.key` or `[section] key`."""
    if key is None:
        return section in message
    return f"{section}.{key}" in message or f"[{section}] {key}" in message


def one_sentence(message: str) -> bool:
    """A ConfigError message is one sentence: one line, one full stop, at the end."""
    return "\n" not in message and message.endswith(".") and ". " not in message


@pytest.fixture
def production_environ(tmp_path: Path) -> dict[str, str]:
    """Production with a valid database and keyring, independent of any local production.toml."""
    empty = tmp_path / "production.toml"
    empty.write_text("", encoding="utf-8")
    return {
        "PORTAL_CONFIG": str(empty),
        "PORTAL_DATABASE__URL": POSTGRES_URL,
        "PORTAL_KEYRING__PATH": "/etc/portal/keyring.json",
        "PORTAL_SERVICE__BASE_URL": "https://portal.northmoor.example",
        "PORTAL_AUDIT__SIGNING_KEY_FILE": "/etc/portal/audit-signing-key.pem",
        **AUDIT_WITNESSES,
        "PORTAL_CMS__ADAPTER": "reference",
        "PORTAL_CMS__BASE_URL": "https://cms.northmoor.example",
    }


def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "portal.toml"
    path.write_text(text, encoding="utf-8")
    return path


# --- Which environment -------------------------------------------------------------------------


@pytest.mark.skipif(
    (CONFIG_DIR / "production.toml").exists(),
    reason="a local config/production.toml would be read; this test needs environment only",
)
def test_no_portal_env_means_production_from_environment_variables_alone() -> None:
    settings = load_settings(
        environ={
            "PORTAL_DATABASE__URL": POSTGRES_URL,
            "PORTAL_KEYRING__PATH": "/etc/portal/keyring.json",
            "PORTAL_SERVICE__BASE_URL": "https://portal.northmoor.example",
            "PORTAL_AUDIT__SIGNING_KEY_FILE": "/etc/portal/audit-signing-key.pem",
            **AUDIT_WITNESSES,
            "PORTAL_CMS__ADAPTER": "reference",
            "PORTAL_CMS__BASE_URL": "https://cms.northmoor.example",
        }
    )
    assert settings.environment == "production"
    assert settings.is_production
    assert settings.source == "environment variables"
    assert settings.database.url == POSTGRES_URL
    assert settings.keyring.path == Path("/etc/portal/keyring.json")
    assert settings.auth.idle_timeout_minutes == 30
    assert settings.auth.absolute_timeout_hours == 10
    assert settings.security.session_cookie_secure is True


def test_empty_portal_env_means_production(production_environ: dict[str, str]) -> None:
    settings = load_settings(environ={**production_environ, "PORTAL_ENV": ""})
    assert settings.is_production


def test_unknown_portal_env_is_refused() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(environ={"PORTAL_ENV": "staging"})
    message = str(caught.value)
    assert "PORTAL_ENV" in message
    assert "staging" in message
    assert one_sentence(message)


@pytest.mark.parametrize("name", ["demo", "test"])
def test_committed_config_files_load(name: str) -> None:
    settings = load_settings(environ={"PORTAL_ENV": name})
    assert settings.environment == name
    assert not settings.is_production
    assert settings.source == str(CONFIG_DIR / f"{name}.toml")


def test_demo_config_is_plain_http_on_loopback_and_not_production() -> None:
    settings = load_settings(environ={"PORTAL_ENV": "demo"})
    assert settings.service.base_url == "http://127.0.0.1:5000"
    assert settings.security.session_cookie_secure is False
    assert not settings.is_production


# --- Production refuses unsafe settings ----------------------------------------------------------


@pytest.mark.parametrize(
    ("variable", "value", "must_mention"),
    [
        ("PORTAL_SERVICE__BASE_URL", "http://portal.example", "https://"),
        ("PORTAL_SECURITY__SESSION_COOKIE_SECURE", "false", "session_cookie_secure = true"),
        ("PORTAL_DATABASE__URL", "sqlite:////var/lib/portal/portal.db", "[database] url"),
        ("PORTAL_CMS__ADAPTER", "none", "[cms] adapter"),
        ("PORTAL_CMS__BASE_URL", "http://cms.northmoor.example", "[cms] base_url"),
    ],
    ids=["plain-http", "insecure-cookie", "sqlite", "no-cms", "plain-http-cms"],
)
def test_production_refuses_unsafe_settings(
    production_environ: dict[str, str], variable: str, value: str, must_mention: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(environ={**production_environ, variable: value})
    message = str(caught.value)
    assert must_mention in message
    assert "set " in message
    assert one_sentence(message)


def test_production_accepts_safe_settings(production_environ: dict[str, str]) -> None:
    settings = load_settings(environ=production_environ)
    assert settings.is_production
    assert settings.database.url == POSTGRES_URL


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("PORTAL_SERVICE__BASE_URL", "http://127.0.0.1:5000"),
        ("PORTAL_SECURITY__SESSION_COOKIE_SECURE", "false"),
    ],
)
def test_demo_environment_allows_what_production_refuses(variable: str, value: str) -> None:
    settings = load_settings(environ={"PORTAL_ENV": "demo", variable: value})
    assert settings.environment == "demo"


# --- Missing, unknown and unreadable settings ------------------------------------------------


def test_missing_database_url_names_setting_and_variable_when_nothing_is_configured(
    production_environ: dict[str, str],
) -> None:
    environ = {k: v for k, v in production_environ.items() if k != "PORTAL_DATABASE__URL"}
    with pytest.raises(ConfigError) as caught:
        load_settings(environ=environ)
    message = str(caught.value)
    assert names_setting(message, "database", "url")
    assert "PORTAL_DATABASE__URL" in message
    assert one_sentence(message)


def test_missing_keyring_path_names_setting_and_variable_when_nothing_is_configured(
    production_environ: dict[str, str],
) -> None:
    environ = {k: v for k, v in production_environ.items() if k != "PORTAL_KEYRING__PATH"}
    with pytest.raises(ConfigError) as caught:
        load_settings(environ=environ)
    message = str(caught.value)
    assert names_setting(message, "keyring", "path")
    assert "PORTAL_KEYRING__PATH" in message
    assert one_sentence(message)


def test_missing_database_url_in_a_section_names_setting_and_variable(tmp_path: Path) -> None:
    config = write_config(tmp_path, '[database]\n\n[keyring]\npath = "/etc/portal/keyring.json"\n')
    with pytest.raises(ConfigError) as caught:
        load_settings(environ={"PORTAL_CONFIG": str(config)})
    message = str(caught.value)
    assert names_setting(message, "database", "url")
    assert "PORTAL_DATABASE__URL" in message
    assert str(config) in message
    assert one_sentence(message)


def test_missing_keyring_path_in_a_section_names_setting_and_variable(tmp_path: Path) -> None:
    config = write_config(tmp_path, f'[database]\nurl = "{POSTGRES_URL}"\n\n[keyring]\n')
    with pytest.raises(ConfigError) as caught:
        load_settings(environ={"PORTAL_CONFIG": str(config)})
    message = str(caught.value)
    assert names_setting(message, "keyring", "path")
    assert "PORTAL_KEYRING__PATH" in message
    assert one_sentence(message)


def test_empty_database_url_is_refused(production_environ: dict[str, str]) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(environ={**production_environ, "PORTAL_DATABASE__URL": ""})
    assert "PORTAL_DATABASE__URL" in str(caught.value)


@pytest.mark.parametrize(
    ("variable", "section", "key"),
    [("PORTAL_AUTH__COLOUR", "auth", "colour"), ("PORTAL_MAILER__HOST", "mailer", None)],
    ids=["unknown-key", "unknown-section"],
)
def test_unknown_setting_is_refused(
    production_environ: dict[str, str], variable: str, section: str, key: str | None
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(environ={**production_environ, variable: "x"})
    message = str(caught.value)
    assert names_setting(message, section, key)
    assert "not one this portal knows" in message
    assert one_sentence(message)


def test_unknown_setting_in_a_file_is_refused(tmp_path: Path) -> None:
    config = write_config(
        tmp_path,
        '[database]\nurl = "sqlite://"\n[keyring]\npath = "k.json"\n[auth]\ndemo_signin = true\n',
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(environ={"PORTAL_ENV": "test", "PORTAL_CONFIG": str(config)})
    assert names_setting(str(caught.value), "auth", "demo_signin")


def test_portal_config_naming_a_missing_file_is_refused(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.toml"
    with pytest.raises(ConfigError) as caught:
        load_settings(environ={"PORTAL_CONFIG": str(missing)})
    message = str(caught.value)
    assert "PORTAL_CONFIG" in message
    assert str(missing) in message
    assert one_sentence(message)


def test_invalid_toml_is_refused_with_the_file_named(tmp_path: Path) -> None:
    config = write_config(tmp_path, '[database\nurl = "sqlite://"\n')
    with pytest.raises(ConfigError) as caught:
        load_settings(environ={"PORTAL_ENV": "test", "PORTAL_CONFIG": str(config)})
    message = str(caught.value)
    assert str(config) in message
    assert "not valid TOML" in message
    assert "\n" not in message


# --- Precedence --------------------------------------------------------------------------------


def test_environment_overrides_beat_the_file(tmp_path: Path) -> None:
    database = tmp_path / "override.db"
    settings = load_settings(
        environ={"PORTAL_ENV": "demo", "PORTAL_DATABASE__URL": f"sqlite:///{database}"}
    )
    assert settings.database.url == f"sqlite:///{database}"
    # The rest of the file still applies.
    assert settings.keyring.path == PROJECT_ROOT / "instance/demo/keyring.json"
    assert settings.security.session_cookie_secure is False


def test_overrides_argument_beats_environment_and_file() -> None:
    settings = load_settings(
        environ={"PORTAL_ENV": "demo", "PORTAL_DATABASE__URL": "sqlite:///from-env.db"},
        overrides={"database": {"url": "sqlite://"}, "auth": {"idle_timeout_minutes": 5}},
    )
    assert settings.database.url == "sqlite://"
    assert settings.auth.idle_timeout_minutes == 5
    assert settings.keyring.path == PROJECT_ROOT / "instance/demo/keyring.json"


def test_environment_variables_without_a_section_separator_are_ignored() -> None:
    settings = load_settings(
        environ={"PORTAL_ENV": "test", "PORTAL_TEST_DATABASE_URL": "postgresql://elsewhere/test"}
    )
    assert settings.database.url == f"sqlite:///{PROJECT_ROOT / 'instance/test/portal.db'}"


# --- Paths ---------------------------------------------------------------------------------------


def test_relative_paths_resolve_against_project_root_not_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings(environ={"PORTAL_ENV": "demo"})
    assert settings.keyring.path == PROJECT_ROOT / "instance/demo/keyring.json"
    assert settings.security.secret_key_file == PROJECT_ROOT / "instance/demo/secret_key"
    assert settings.database.url == f"sqlite:///{PROJECT_ROOT / 'instance/demo/portal.db'}"


def test_absolute_paths_are_unchanged(tmp_path: Path) -> None:
    keyring = tmp_path / "keyring.json"
    secret_file = tmp_path / "secret_key"
    database = tmp_path / "portal.db"
    settings = load_settings(
        environ={
            "PORTAL_ENV": "test",
            "PORTAL_KEYRING__PATH": str(keyring),
            "PORTAL_SECURITY__SECRET_KEY_FILE": str(secret_file),
            "PORTAL_DATABASE__URL": f"sqlite:///{database}",
        }
    )
    assert settings.keyring.path == keyring
    assert settings.security.secret_key_file == secret_file
    assert settings.database.url == f"sqlite:///{database}"


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:", POSTGRES_URL])
def test_memory_and_server_database_urls_are_untouched(url: str) -> None:
    settings = load_settings(environ={"PORTAL_ENV": "test", "PORTAL_DATABASE__URL": url})
    assert settings.database.url == url


# --- Secret key ----------------------------------------------------------------------------------


def test_secret_key_from_environment() -> None:
    settings = load_settings(environ={"PORTAL_ENV": "test", "PORTAL_SECURITY__SECRET_KEY": SECRET})
    assert read_secret_key(settings) == SECRET


def test_secret_key_from_file(tmp_path: Path) -> None:
    secret_file = tmp_path / "secret_key"
    secret_file.write_text(SECRET + "\n", encoding="utf-8")
    secret_file.chmod(0o600)
    settings = load_settings(
        environ={"PORTAL_ENV": "test", "PORTAL_SECURITY__SECRET_KEY_FILE": str(secret_file)}
    )
    assert read_secret_key(settings) == SECRET


def test_secret_key_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    secret_file = tmp_path / "secret_key"
    secret_file.write_text(SECRET + "\n", encoding="utf-8")
    secret_file.chmod(0o640)
    settings = load_settings(
        environ={"PORTAL_ENV": "test", "PORTAL_SECURITY__SECRET_KEY_FILE": str(secret_file)}
    )
    with pytest.raises(ConfigError) as caught:
        read_secret_key(settings)
    message = str(caught.value)
    assert f"chmod 600 {secret_file}" in message
    assert SECRET not in message and "\n" not in message


def test_secret_key_in_environment_beats_file(tmp_path: Path) -> None:
    secret_file = tmp_path / "secret_key"
    secret_file.write_text("file-secret-" + "f" * 40, encoding="utf-8")
    settings = load_settings(
        environ={
            "PORTAL_ENV": "test",
            "PORTAL_SECURITY__SECRET_KEY": SECRET,
            "PORTAL_SECURITY__SECRET_KEY_FILE": str(secret_file),
        }
    )
    assert read_secret_key(settings) == SECRET


def test_missing_secret_key_file_says_how_to_create_it(tmp_path: Path) -> None:
    secret_file = tmp_path / "secret_key"
    settings = load_settings(
        environ={"PORTAL_ENV": "test", "PORTAL_SECURITY__SECRET_KEY_FILE": str(secret_file)}
    )
    with pytest.raises(ConfigError) as caught:
        read_secret_key(settings)
    message = str(caught.value)
    assert "portal secret-key create" in message
    assert str(secret_file) in message
    assert "\n" not in message


def test_no_secret_key_at_all_is_refused() -> None:
    settings = load_settings(environ={"PORTAL_ENV": "test"})
    assert settings.security.secret_key is None
    assert settings.security.secret_key_file is None
    with pytest.raises(ConfigError) as caught:
        read_secret_key(settings)
    message = str(caught.value)
    assert "PORTAL_SECURITY__SECRET_KEY" in message
    assert "\n" not in message


@pytest.mark.parametrize("secret", ["", "   \n", "Zq8-short-secret-Wx4", SECRET[:31]])
def test_short_secret_key_is_refused_without_echoing_it(tmp_path: Path, secret: str) -> None:
    secret_file = tmp_path / "secret_key"
    secret_file.write_text(secret, encoding="utf-8")
    secret_file.chmod(0o600)
    settings = load_settings(
        environ={"PORTAL_ENV": "test", "PORTAL_SECURITY__SECRET_KEY_FILE": str(secret_file)}
    )
    with pytest.raises(ConfigError) as caught:
        read_secret_key(settings)
    message = str(caught.value)
    assert "32" in message
    if secret.strip():
        assert secret not in message


def test_short_secret_key_from_environment_is_refused() -> None:
    short = SECRET[:31]
    settings = load_settings(environ={"PORTAL_ENV": "test", "PORTAL_SECURITY__SECRET_KEY": short})
    with pytest.raises(ConfigError) as caught:
        read_secret_key(settings)
    assert short not in str(caught.value)


def test_secret_key_of_exactly_the_minimum_length_is_accepted() -> None:
    secret = SECRET[:32]
    settings = load_settings(environ={"PORTAL_ENV": "test", "PORTAL_SECURITY__SECRET_KEY": secret})
    assert read_secret_key(settings) == secret


def test_secret_key_is_not_in_repr_or_str() -> None:
    settings = load_settings(environ={"PORTAL_ENV": "test", "PORTAL_SECURITY__SECRET_KEY": SECRET})
    assert settings.security.secret_key == SECRET
    assert SECRET not in repr(settings)
    assert SECRET not in str(settings)
    assert SECRET not in repr(settings.security)


@pytest.mark.parametrize(
    "extra",
    [
        {"PORTAL_AUTH__DEMO_SIGN_IN": "true"},
        {"PORTAL_SECURITY__SESSION_COOKIE_SECURE": "false"},
        {"PORTAL_DATABASE__URL": "sqlite://"},
        {"PORTAL_AUTH__COLOUR": "x"},
        {"PORTAL_DATABASE__URL": ""},
        # A secret pasted into the wrong setting must not be echoed back either.
        {"PORTAL_SECURITY__SESSION_COOKIE_SECURE": SECRET},
        {"PORTAL_SECURITY__SECRET": SECRET},
    ],
)
def test_secret_never_appears_in_config_errors(
    production_environ: dict[str, str], extra: dict[str, str]
) -> None:
    environ = {**production_environ, "PORTAL_SECURITY__SECRET_KEY": SECRET, **extra}
    with pytest.raises(ConfigError) as caught:
        load_settings(environ=environ)
    assert SECRET not in str(caught.value)


# --- Committed config files carry no secrets -----------------------------------------------------

_SECRET_PATTERNS = {
    "a secret_key setting": re.compile(r"^\s*secret_key\s*=", re.MULTILINE),
    # A password given as a value, or inside a URL; naming a file that holds one is fine.
    "a password": re.compile(r"password\s*=|://[^/\s:@]+:[^@\s/]+@", re.IGNORECASE),
    "a key-like string": re.compile(r"[A-Za-z0-9+/_-]{40,}={0,2}"),
}


def secrets_in(text: str) -> list[str]:
    return [what for what, pattern in _SECRET_PATTERNS.items() if pattern.search(text)]


def _committed_config_files() -> list[Path]:
    # config/production.toml is git-ignored: it is local to a server, never committed.
    return sorted(
        path for path in CONFIG_DIR.iterdir() if path.is_file() and path.name != "production.toml"
    )


def test_the_config_directory_has_files_to_scan() -> None:
    names = {path.name for path in _committed_config_files()}
    assert {"demo.toml", "test.toml", "production.example.toml"} <= names


@pytest.mark.parametrize("path", _committed_config_files(), ids=lambda path: path.name)
def test_committed_config_file_carries_no_secret(path: Path) -> None:
    assert secrets_in(path.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ('[security]\nsecret_key = "x"\n', "a secret_key setting"),
        ('url = "postgresql://portal:Password1@db/portal"\n', "a password"),
        ('smtp_password = "hunter2"\n', "a password"),
        ('token = "Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0Z2FycGx5d2FsZG8="\n', "a key-like string"),
        ('token = "dGhpcyBpcyBub3QgYSByZWFsIGtleV9idXRfbG9uZ19lbm91Z2g"\n', "a key-like string"),
    ],
)
def test_secret_scan_finds_planted_secrets(text: str, found: str) -> None:
    assert found in secrets_in(text)


def test_secret_scan_allows_a_secret_key_file_setting() -> None:
    assert secrets_in('[security]\nsecret_key_file = "/etc/portal/secret_key"\n') == []


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("PORTAL_AUTH__CLOCK_SKEW_SECONDS", "120"),  # more than a minute is refused
        ("PORTAL_AUTH__IDLE_TIMEOUT_MINUTES", "0"),
        ("PORTAL_SERVICE__BASE_URL", "https://portal.example/path"),
    ],
)
def test_sign_in_settings_are_bounded(
    production_environ: dict[str, str], variable: str, value: str
) -> None:
    with pytest.raises(ConfigError):
        load_settings(environ={**production_environ, variable: value})


def test_production_needs_an_audit_signing_key(production_environ: dict[str, str]) -> None:
    environ = dict(production_environ)
    del environ["PORTAL_AUDIT__SIGNING_KEY_FILE"]
    with pytest.raises(ConfigError) as caught:
        load_settings(environ=environ)
    assert "signing_key_file" in str(caught.value)


@pytest.mark.parametrize("variable", sorted(AUDIT_WITNESSES))
def test_production_needs_both_audit_witnesses(
    production_environ: dict[str, str], variable: str
) -> None:
    environ = {name: value for name, value in production_environ.items() if name != variable}
    with pytest.raises(ConfigError) as caught:
        load_settings(environ=environ)
    message = str(caught.value)
    assert variable.removeprefix("PORTAL_AUDIT__").lower() in message
    assert one_sentence(message)


def test_exported_csv_cells_never_start_a_formula() -> None:
    from portal.audit.export_format import _inert

    assert _inert('=HYPERLINK("https://evil.example")') == '\'=HYPERLINK("https://evil.example")'
    assert _inert("@SUM(A1)") == "'@SUM(A1)" and _inert("-1") == "'-1"
    assert _inert("Mozilla/5.0") == "Mozilla/5.0" and _inert(7) == 7
