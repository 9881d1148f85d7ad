"""`portal idp`: identity providers from the command line, against the real database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result
from flask import Flask
from sqlalchemy.orm import Session

from portal import cli
from portal.auth.sessions import token_hash
from portal.crypto import FileKeyring
from portal.crypto.records import RecordCipher
from portal.models import AuditEvent, IdentityProvider, Organisation, OrganisationKind, WebSession
from tests.factories import make_organisation, make_user
from tests.support.audit_log import events

SECRET = "a-command-line-client-secret"  # noqa: S105 - a test value


@pytest.fixture
def portal(app: Flask, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """The `portal` command, run against the test's app (and so its rolled-back transaction)."""
    monkeypatch.setattr(cli.base, "create_app", lambda **_options: app)
    return CliRunner()


@pytest.fixture
def school(db_session: Session) -> Organisation:
    return make_organisation(db_session, OrganisationKind.SCHOOL)


def secret_file(tmp_path: Path, secret: str = SECRET, mode: int = 0o600) -> Path:
    path = tmp_path / "client.secret"
    path.write_text(secret + "\n", encoding="utf-8")
    path.chmod(mode)
    return path


def add(runner: CliRunner, school: Organisation, *extra: str, stdin: str | None = None) -> Result:
    arguments = [
        "idp",
        "add",
        "--organisation",
        school.name,
        "--slug",
        "ashby",
        "--issuer",
        "https://ashby.idp.test",
        "--client-id",
        "partner-portal",
        *extra,
    ]
    return runner.invoke(cli.cli, arguments, input=stdin)


def stored(db_session: Session, slug: str) -> IdentityProvider | None:
    db_session.expire_all()
    return db_session.scalar(sa.select(IdentityProvider).where(IdentityProvider.slug == slug))


def assert_refused(result: Result, message: str) -> None:
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("portal: ") and message in result.stderr
    assert "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) == 1


def test_add_reads_the_secret_from_a_private_file_and_says_what_to_register(
    portal: CliRunner,
    db_session: Session,
    keyring: FileKeyring,
    school: Organisation,
    tmp_path: Path,
) -> None:
    result = add(
        portal,
        school,
        "--client-secret-file",
        str(secret_file(tmp_path)),
        "--email-domain",
        "ashby.sch.uk",
        "--acr",
        "AAL2",
        "--require-strong-amr",
        "--group-role",
        "staff=partner_contributor",
    )

    assert result.exit_code == 0, result.output
    assert f"Added identity provider 'ashby' for {school.name}" in result.output
    assert "http://127.0.0.1:5000/sign-in/callback/ashby" in result.output
    assert "http://127.0.0.1:5000/sign-in/back-channel-logout/ashby" in result.output
    assert SECRET not in result.output
    provider = stored(db_session, "ashby")
    assert provider is not None and provider.display_name == school.name
    assert provider.allowed_email_domains == ["ashby.sch.uk"]
    assert provider.required_acr_values == ["AAL2"] and provider.require_strong_amr
    assert provider.group_roles == {"staff": "partner_contributor"}
    assert SECRET.encode() not in (provider.client_secret_enc or b"")
    assert RecordCipher(keyring, db_session).open_text(provider, "client_secret_enc") == SECRET
    [event] = events(db_session, "identity_provider_added")
    assert event.actor_role == "system" and SECRET not in str(event.details)


def test_add_reads_the_secret_from_standard_input(
    portal: CliRunner, db_session: Session, keyring: FileKeyring, school: Organisation
) -> None:
    result = add(portal, school, "--client-secret-stdin", stdin=SECRET + "\n")

    assert result.exit_code == 0, result.output
    provider = stored(db_session, "ashby")
    assert provider is not None
    assert RecordCipher(keyring, db_session).open_text(provider, "client_secret_enc") == SECRET


def test_add_private_key_jwt_prints_the_jwks_address_and_key_id(
    portal: CliRunner, db_session: Session, school: Organisation
) -> None:
    result = add(portal, school, "--client-auth", "private_key_jwt")

    assert result.exit_code == 0, result.output
    provider = stored(db_session, "ashby")
    assert provider is not None and provider.client_public_jwk is not None
    kid = provider.client_public_jwk["kid"]
    assert f"http://127.0.0.1:5000/.well-known/jwks.json (key ID {kid})" in result.output


def test_there_is_no_option_that_takes_the_secret_itself(
    portal: CliRunner, db_session: Session, school: Organisation
) -> None:
    result = add(portal, school, "--client-secret", SECRET)
    assert result.exit_code == 2
    assert stored(db_session, "ashby") is None


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--issuer", "http://ashby.example"], "--issuer: The issuer must use https"),
        (["--algorithm", "HS256", "--client-secret-stdin"], "--algorithm: HS256 cannot be pinned"),
        ([], "--client-secret-file/--client-secret-stdin: client_secret_basic needs a client"),
        (["--email-domain", "nope", "--client-secret-stdin"], "--email-domain: 'nope' is not a"),
        (
            ["--group-role", "leads", "--client-secret-stdin"],
            "--group-role: write it as GROUP=ROLE",
        ),
        (["--organisation", "Nobody", "--client-secret-stdin"], "no organisation called 'Nobody'"),
    ],
)
def test_add_explains_bad_input_in_one_sentence_and_saves_nothing(
    portal: CliRunner,
    db_session: Session,
    school: Organisation,
    arguments: list[str],
    message: str,
) -> None:
    result = add(portal, school, *arguments, stdin=SECRET)

    assert_refused(result, message)
    assert stored(db_session, "ashby") is None
    assert db_session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)) == 0


def test_add_refuses_a_secret_file_others_can_read(
    portal: CliRunner, db_session: Session, school: Organisation, tmp_path: Path
) -> None:
    path = secret_file(tmp_path, mode=0o644)
    result = add(portal, school, "--client-secret-file", str(path))
    assert_refused(result, "chmod 600")
    assert stored(db_session, "ashby") is None


def test_add_refuses_an_existing_slug(
    portal: CliRunner, db_session: Session, school: Organisation
) -> None:
    assert add(portal, school, "--client-secret-stdin", stdin=SECRET).exit_code == 0
    assert_refused(
        add(portal, school, "--client-secret-stdin", stdin=SECRET), "already an identity provider"
    )


def registry_file(tmp_path: Path, *entries: str) -> Path:
    path = tmp_path / "providers.toml"
    path.write_text("\n".join(f"[[provider]]\n{entry}" for entry in entries), encoding="utf-8")
    return path


def entry(organisation: str, slug: str, secret: Path | None = None) -> str:
    lines = [
        f'organisation = "{organisation}"',
        f'slug = "{slug}"',
        f'display_name = "{slug}"',
        f'issuer = "https://{slug}.idp.test"',
        'client_id = "portal"',
    ]
    if secret is None:
        lines.append('client_auth_method = "private_key_jwt"')
    else:
        lines.append(f'client_secret_file = "{secret}"')
    return "\n".join(lines) + "\n"


def test_load_adds_then_changes_providers(
    portal: CliRunner, db_session: Session, school: Organisation, tmp_path: Path
) -> None:
    other = make_organisation(db_session)
    path = registry_file(
        tmp_path, entry(school.name, "one", secret_file(tmp_path)), entry(other.name, "two")
    )

    first = portal.invoke(cli.cli, ["idp", "load", str(path)])
    assert first.exit_code == 0, first.output
    assert "Added 'one'" in first.output and "Added 'two'" in first.output
    assert "Loaded 2 identity providers" in first.output

    again = portal.invoke(cli.cli, ["idp", "load", str(path)])
    assert again.exit_code == 0, again.output
    assert "Changed 'one'" in again.output
    assert len(events(db_session, "identity_provider_added")) == 2
    assert len(events(db_session, "identity_provider_changed")) == 2


def test_load_is_all_or_nothing(
    portal: CliRunner, db_session: Session, school: Organisation, tmp_path: Path
) -> None:
    path = registry_file(tmp_path, entry(school.name, "good"), entry("No such school", "bad"))

    result = portal.invoke(cli.cli, ["idp", "load", str(path)])

    assert_refused(result, "bad: There is no organisation called 'No such school'")
    assert "Nothing was changed" in result.stderr
    assert stored(db_session, "good") is None
    assert db_session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)) == 0


def test_load_names_the_provider_and_field_of_a_bad_entry(
    portal: CliRunner, school: Organisation, tmp_path: Path
) -> None:
    path = registry_file(
        tmp_path, entry(school.name, "fine"), entry(school.name, "x") + 'scopes = "email"\n'
    )
    assert_refused(
        portal.invoke(cli.cli, ["idp", "load", str(path)]),
        "provider 2: scopes: The scopes must include openid",
    )
    assert_refused(
        portal.invoke(cli.cli, ["idp", "load", str(tmp_path / "missing.toml")]), "Cannot read"
    )


def test_list_disable_and_enable(
    portal: CliRunner, db_session: Session, school: Organisation
) -> None:
    assert portal.invoke(cli.cli, ["idp", "list"]).output.strip() == "No identity providers yet."
    assert add(portal, school, "--client-secret-stdin", stdin=SECRET).exit_code == 0
    provider = stored(db_session, "ashby")
    assert provider is not None
    person = make_user(db_session, school)
    now = datetime.now(UTC)
    db_session.add(
        WebSession(
            token_hash=token_hash("a-session-token"),
            user_id=person.id,
            identity_provider_id=provider.id,
            created_at=now,
            last_seen_at=now,
            expires_at=now + timedelta(hours=1),
            data={},
        )
    )
    db_session.flush()

    listing = portal.invoke(cli.cli, ["idp", "list"])
    assert "ashby" in listing.output and "enabled" in listing.output

    disabled = portal.invoke(cli.cli, ["idp", "disable", "ashby"])
    assert disabled.exit_code == 0, disabled.output
    assert "Disabled identity provider 'ashby'" in disabled.output
    assert stored(db_session, "ashby").enabled is False  # type: ignore[union-attr]
    assert db_session.scalar(sa.select(sa.func.count()).select_from(WebSession)) == 0
    [event] = events(db_session, "identity_provider_changed")
    assert event.details["enabled"] is False and event.details["sessions_ended"] == 1
    assert "DISABLED" in portal.invoke(cli.cli, ["idp", "list"]).output
    assert "already disabled" in portal.invoke(cli.cli, ["idp", "disable", "ashby"]).output

    enabled = portal.invoke(cli.cli, ["idp", "enable", "ashby"])
    assert enabled.exit_code == 0 and stored(db_session, "ashby").enabled  # type: ignore[union-attr]
    assert_refused(portal.invoke(cli.cli, ["idp", "disable", "nobody"]), "no identity provider")
