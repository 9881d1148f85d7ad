"""Start-up refuses, with one clear sentence and no traceback, whatever would make it unsafe."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from loopback.tsa import ROOT_FILE, make_certificates
from portal import ConfigError, create_app, db, schema
from portal.audit.signing import CheckpointSigner
from portal.crypto import FileKeyring
from tests.conftest import TEST_SECRET_KEY, test_settings


def start_web_process(tmp_path: Path, **environment: str) -> subprocess.CompletedProcess[str]:
    """Import the WSGI entry point as gunicorn would, in a clean environment."""
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), **environment}
    return subprocess.run(
        [sys.executable, "-c", "import portal.wsgi"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def assert_refused(result: subprocess.CompletedProcess[str], *phrases: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    message = result.stderr.strip()
    assert message.startswith("portal: ") and "\n" not in message
    for phrase in phrases:
        assert phrase in message


def production_environment(keyring_path: Path, database_url: str) -> dict[str, str]:
    signing_key = keyring_path.parent / "audit-signing-key.pem"
    if not signing_key.exists():
        CheckpointSigner.create(signing_key)
    cms_secret = keyring_path.parent / "cms-client-secret"
    cms_secret.write_text("cms-secret-for-start-up-tests", encoding="utf-8")
    # The witnesses production requires: a store directory and a TSA's root (never contacted
    # at start-up).
    witness = keyring_path.parent / "witness"
    witness.mkdir(exist_ok=True)
    make_certificates(keyring_path.parent / "tsa")
    return {
        "PORTAL_AUDIT__SIGNING_KEY_FILE": str(signing_key),
        "PORTAL_AUDIT__WITNESS_DIRECTORY": str(witness),
        "PORTAL_AUDIT__TSA_URL": "https://tsa.northmoor.example/",
        "PORTAL_AUDIT__TSA_CERTIFICATE_FILE": str(keyring_path.parent / "tsa" / ROOT_FILE),
        "PORTAL_CMS__ADAPTER": "reference",
        "PORTAL_CMS__BASE_URL": "https://cms.northmoor.example",
        "PORTAL_CMS__CLIENT_ID": "portal",
        "PORTAL_CMS__CLIENT_SECRET_FILE": str(cms_secret),
        "PORTAL_DATABASE__URL": database_url,
        "PORTAL_KEYRING__PATH": str(keyring_path),
        "PORTAL_SECURITY__SECRET_KEY": TEST_SECRET_KEY,
        "PORTAL_SERVICE__BASE_URL": "https://portal.northmoor.example",
    }


def test_production_refuses_plain_http(
    tmp_path: Path, keyring_path: Path, postgresql_engine: Engine
) -> None:
    url = postgresql_engine.url.render_as_string(False)
    env = production_environment(keyring_path, url) | {
        "PORTAL_SERVICE__BASE_URL": "http://portal.northmoor.example"
    }
    assert_refused(start_web_process(tmp_path, **env), "HTTPS", "base_url")


def test_production_is_the_default_environment(tmp_path: Path, keyring_path: Path) -> None:
    # No PORTAL_ENV: production rules apply, so a SQLite database is refused.
    env = production_environment(keyring_path, f"sqlite:///{tmp_path / 'x.db'}")
    assert_refused(start_web_process(tmp_path, **env), "PostgreSQL")


def test_start_up_refuses_without_a_keyring(tmp_path: Path, postgresql_engine: Engine) -> None:
    missing = tmp_path / "nowhere" / "keyring.json"
    env = production_environment(missing, postgresql_engine.url.render_as_string(False))
    assert_refused(start_web_process(tmp_path, **env), str(missing), "portal keys create")


def test_start_up_refuses_without_a_database_url(tmp_path: Path, keyring_path: Path) -> None:
    env = {"PORTAL_KEYRING__PATH": str(keyring_path), "PORTAL_SECURITY__SECRET_KEY": "x" * 40}
    assert_refused(start_web_process(tmp_path, **env), "database URL", "PORTAL_DATABASE__URL")


def test_start_up_refuses_without_a_secret_key(
    tmp_path: Path, keyring_path: Path, postgresql_engine: Engine
) -> None:
    env = production_environment(keyring_path, postgresql_engine.url.render_as_string(False))
    del env["PORTAL_SECURITY__SECRET_KEY"]
    assert_refused(start_web_process(tmp_path, **env), "secret key")


def test_production_starts_when_everything_is_in_place(
    tmp_path: Path, keyring_path: Path, postgresql_engine: Engine
) -> None:
    env = production_environment(keyring_path, postgresql_engine.url.render_as_string(False))
    result = start_web_process(tmp_path, **env)
    assert result.returncode == 0, result.stderr


def test_start_up_refuses_a_keyring_from_another_database(
    tmp_path: Path, postgresql_engine: Engine
) -> None:
    stranger = tmp_path / "stranger.json"
    FileKeyring.create(stranger)
    settings = test_settings(postgresql_engine.url.render_as_string(False), stranger)
    with pytest.raises(ConfigError, match="does not match this database"):
        create_app(settings)


def test_start_up_refuses_an_unmigrated_database(tmp_path: Path, keyring_path: Path) -> None:
    settings = test_settings(f"sqlite:///{tmp_path / 'empty.db'}", keyring_path)
    with pytest.raises(ConfigError, match="run `portal db upgrade`"):
        create_app(settings)


def test_start_up_asks_for_key_registration_on_a_new_database(
    tmp_path: Path, keyring_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'new.db'}"
    engine = db.make_engine(url)
    schema.upgrade(engine)
    engine.dispose()
    with pytest.raises(ConfigError, match="portal keys register"):
        create_app(test_settings(url, keyring_path))


def test_start_up_refuses_an_unreachable_database(keyring_path: Path) -> None:
    url = "postgresql+psycopg://portal:secret-password@127.0.0.1:9/portal"
    with pytest.raises(ConfigError, match="Cannot connect to the database") as refused:
        create_app(test_settings(url, keyring_path))
    assert "secret-password" not in str(refused.value)


def test_production_refuses_to_start_without_the_audit_signing_key(
    tmp_path: Path, keyring_path: Path, postgresql_engine: Engine
) -> None:
    env = production_environment(keyring_path, postgresql_engine.url.render_as_string(False))
    del env["PORTAL_AUDIT__SIGNING_KEY_FILE"]
    assert_refused(start_web_process(tmp_path, **env), "signing_key_file")
    env["PORTAL_AUDIT__SIGNING_KEY_FILE"] = str(tmp_path / "missing.pem")
    assert_refused(start_web_process(tmp_path, **env), "portal audit create-signing-key")


def test_production_refuses_to_start_without_the_cms_secret(
    tmp_path: Path, keyring_path: Path, postgresql_engine: Engine
) -> None:
    url = postgresql_engine.url.render_as_string(False)
    env = production_environment(keyring_path, url)
    env["PORTAL_CMS__CLIENT_SECRET_FILE"] = str(tmp_path / "missing-secret")
    assert_refused(start_web_process(tmp_path, **env), "client_secret_file")
