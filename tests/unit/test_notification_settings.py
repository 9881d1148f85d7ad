"""Unit tests for the notification settings, the e-mail templates and the retry schedule."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import pytest

from portal.config import ConfigError, load_settings
from portal.models.notifications import NotificationKind
from portal.notifications.messages import TO_PARTNER, compose
from portal.notifications.senders import parse_notify_api_key
from portal.notifications.worker import RETRY_CEILING, retry_delay
from portal.settings import ServiceSettings

POSTGRES_URL = "postgresql+psycopg://portal_app@db.internal:5432/portal"


@pytest.fixture
def production_environ(tmp_path: Path) -> dict[str, str]:
    empty = tmp_path / "production.toml"
    empty.write_text("", encoding="utf-8")
    return {
        "PORTAL_CONFIG": str(empty),
        "PORTAL_DATABASE__URL": POSTGRES_URL,
        "PORTAL_KEYRING__PATH": "/etc/portal/keyring.json",
        "PORTAL_SERVICE__BASE_URL": "https://portal.northmoor.example",
        "PORTAL_AUDIT__SIGNING_KEY_FILE": "/etc/portal/audit-signing-key.pem",
        "PORTAL_AUDIT__WITNESS_DIRECTORY": "/var/lib/portal-witness",
        "PORTAL_AUDIT__TSA_URL": "https://tsa.northmoor.example/",
        "PORTAL_AUDIT__TSA_CERTIFICATE_FILE": "/etc/portal/tsa-root.pem",
        "PORTAL_CMS__ADAPTER": "reference",
        "PORTAL_CMS__BASE_URL": "https://cms.northmoor.example",
    }


def one_sentence(message: str) -> bool:
    return "\n" not in message and message.endswith(".") and ". " not in message


@pytest.mark.parametrize(
    ("settings", "must_mention"),
    [
        ({"SENDER": "none"}, "sender"),
        ({"SMTP_HOST": "relay.internal"}, "smtp_starttls"),
        ({"SMTP_HOST": "10.0.0.5", "SMTP_STARTTLS": "false"}, "smtp_starttls"),
        ({"SENDER": "notify"}, "notify_api_key_file"),
        (
            {
                "SENDER": "notify",
                "NOTIFY_API_KEY_FILE": "/etc/portal/notify-key",
                "NOTIFY_BASE_URL": "http://notify.internal",
            },
            "notify_base_url",
        ),
        ({"SMTP_USERNAME": "portal"}, "smtp_password_file"),
    ],
)
def test_production_refuses_unsafe_notification_settings(
    production_environ: dict[str, str], settings: dict[str, str], must_mention: str
) -> None:
    environ = production_environ | {f"PORTAL_NOTIFICATIONS__{k}": v for k, v in settings.items()}
    with pytest.raises(ConfigError) as refused:
        load_settings(environ=environ)
    assert must_mention in str(refused.value)
    assert one_sentence(str(refused.value))


@pytest.mark.parametrize(
    "settings",
    [
        {},  # plain SMTP to a relay on this machine
        {"SMTP_HOST": "::1"},
        {"SMTP_HOST": "relay.internal", "SMTP_PORT": "587", "SMTP_STARTTLS": "true"},
        {"SENDER": "notify", "NOTIFY_API_KEY_FILE": "/etc/portal/notify-key"},
    ],
)
def test_production_accepts_safe_notification_settings(
    production_environ: dict[str, str], settings: dict[str, str]
) -> None:
    environ = production_environ | {f"PORTAL_NOTIFICATIONS__{k}": v for k, v in settings.items()}
    loaded = load_settings(environ=environ)
    assert loaded.notifications.max_attempts == 5
    assert loaded.notifications.reminder_days_before_due == 2


def test_the_demo_may_switch_e_mail_off() -> None:
    settings = load_settings(
        environ={"PORTAL_ENV": "demo", "PORTAL_NOTIFICATIONS__SENDER": "none"},
    )
    assert settings.notifications.sender == "none"


ABOUT_REQUESTS = [
    kind
    for kind in NotificationKind
    if kind
    not in {NotificationKind.AGREEMENT_REVIEW_DUE, NotificationKind.CHANGE_AWAITING_APPROVAL}
]


@pytest.mark.parametrize("kind", ABOUT_REQUESTS)
def test_every_message_holds_the_reference_and_link_and_nothing_else_variable(
    kind: NotificationKind,
) -> None:
    service = ServiceSettings(base_url="https://portal.example")
    message = compose(kind, "DR-7K2M9QXA", service)
    section = "inbox" if kind in TO_PARTNER else "requests"
    assert message.link == f"https://portal.example/{section}/DR-7K2M9QXA"
    assert "DR-7K2M9QXA" in message.subject
    assert message.link in message.body
    assert service.council_name in message.body and service.name in message.body
    # Nothing was left unfilled, and no other field can be filled: compose takes no content.
    assert "$" not in message.subject + message.body


def test_a_reference_that_is_not_one_never_reaches_an_e_mail() -> None:
    with pytest.raises(ValueError, match="reference"):
        compose(NotificationKind.REQUEST_ISSUED, "Amelia Hart", ServiceSettings())


def test_retries_back_off_exponentially_with_jitter_up_to_a_ceiling() -> None:
    for attempt in range(1, 6):
        full = timedelta(minutes=2 ** (attempt - 1))
        delays = {retry_delay(attempt) for _ in range(20)}
        assert all(full / 2 <= delay <= full for delay in delays)
        assert len(delays) > 1  # jittered
    assert retry_delay(40) <= RETRY_CEILING


def test_a_notify_api_key_splits_into_service_id_and_secret() -> None:
    service_id, secret = str(uuid.uuid4()), str(uuid.uuid4())
    assert parse_notify_api_key(f"portal-live-{service_id}-{secret}\n") == (service_id, secret)
    with pytest.raises(ConfigError, match="Notify API key"):
        parse_notify_api_key("not-a-key")
