"""Delivering one e-mail: over SMTP to a relay, or through GOV.UK Notify's API.

A sender either returns (the e-mail was handed over) or raises `SendFailed` with a short code
and whether trying again could help. Codes go to the database and the audit trail; addresses,
subjects and bodies go nowhere but the e-mail itself.
"""

from __future__ import annotations

import smtplib
import ssl
import time
import uuid
from collections.abc import Mapping
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Protocol

import requests
from joserfc import jwt
from joserfc.jwk import OctKey

from portal.config import PROJECT_ROOT, ConfigError, Settings
from portal.models.notifications import NotificationKind
from portal.notifications.messages import Message
from portal.private_files import PrivateFileError, read_private_file
from portal.settings import NotificationSettings

NOTIFY_EMAIL_PATH = "/v2/notifications/email"
_UUID_LENGTH = 36


class SendFailed(Exception):
    """The e-mail was not handed over. `code` is safe to store; `permanent` means retrying the
    same e-mail cannot succeed (the address was refused, say)."""

    def __init__(self, code: str, *, permanent: bool = False) -> None:
        super().__init__(code)
        self.code = code
        self.permanent = permanent


class Sender(Protocol):
    def send(self, to: str, message: Message) -> None:
        """Hand `message` over for delivery to `to`, or raise SendFailed."""


class SmtpSender:
    """One SMTP connection per e-mail, with timeouts; STARTTLS (verified) and sign-in when
    configured."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        from_address: str,
        starttls: bool = False,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 10,
    ) -> None:
        self.host = host
        self.port = port
        self.from_address = from_address
        self.starttls = starttls
        self.username = username
        self.password = password
        self.timeout = timeout

    def send(self, to: str, message: Message) -> None:
        email = self._email(to, message)
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                if self.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if self.username is not None and self.password is not None:
                    smtp.login(self.username, self.password)
                smtp.send_message(email)
        # The exceptions' text can hold the address: only a code is kept.
        except smtplib.SMTPRecipientsRefused as error:
            codes = [code for code, _text in error.recipients.values()]
            permanent = all(500 <= code < 600 for code in codes)  # 4xx: greylisted, full…
            raise SendFailed("smtp_recipient_refused", permanent=permanent) from None
        except smtplib.SMTPAuthenticationError:
            raise SendFailed("smtp_sign_in_refused") from None
        except smtplib.SMTPResponseException as error:
            permanent = 500 <= error.smtp_code < 600  # SMTP's permanent failures
            raise SendFailed(f"smtp_{error.smtp_code}", permanent=permanent) from None
        except (smtplib.SMTPException, ssl.SSLError):
            raise SendFailed("smtp_error") from None
        except OSError:
            raise SendFailed("smtp_unreachable") from None

    def _email(self, to: str, message: Message) -> EmailMessage:
        email = EmailMessage()
        email["From"] = self.from_address
        email["To"] = to  # the bare address: no display name
        email["Subject"] = message.subject
        email["Date"] = formatdate(usegmt=True)
        email["Message-ID"] = make_msgid(domain=self.from_address.rpartition("@")[2])
        email["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies, please
        # Plain 7-bit text when it can be, so the message reads as written even unencoded.
        email.set_content(message.body, cte="7bit" if message.body.isascii() else None)
        return email


class NotifySender:
    """GOV.UK Notify's email API: a JSON POST authenticated by a short-lived HS256 token whose
    issuer is the service id and whose key is the API key's secret half."""

    def __init__(
        self,
        *,
        api_key: str,
        template_ids: Mapping[NotificationKind, str],
        base_url: str = "https://api.notifications.service.gov.uk",
        timeout: float = 10,
    ) -> None:
        self.service_id, secret = parse_notify_api_key(api_key)
        self._key = OctKey.import_key(secret)
        self.template_ids = dict(template_ids)
        self.url = base_url.rstrip("/") + NOTIFY_EMAIL_PATH
        self.timeout = timeout

    def token(self) -> str:
        claims = {"iss": self.service_id, "iat": int(time.time())}
        return jwt.encode({"alg": "HS256", "typ": "JWT"}, claims, self._key)

    def send(self, to: str, message: Message) -> None:
        body = {
            "email_address": to,
            "template_id": self.template_ids[message.kind],
            # The template's ((reference)) and ((link)): nothing else leaves the portal.
            "personalisation": {"reference": message.reference, "link": message.link},
        }
        try:
            response = requests.post(
                self.url,
                json=body,
                headers={"Authorization": f"Bearer {self.token()}"},
                timeout=self.timeout,
                allow_redirects=False,
            )
        except requests.RequestException:
            raise SendFailed("notify_unreachable") from None
        status = response.status_code
        if status in (200, 201):
            return
        # Notify's error bodies can repeat the address: only the status is kept.
        if status == 400:  # a refused address or template: the same again fails
            raise SendFailed("notify_rejected", permanent=True)
        if status == 403:
            raise SendFailed("notify_key_refused")
        if status == 429:
            raise SendFailed("notify_rate_limited")
        raise SendFailed("notify_unavailable" if status >= 500 else f"notify_{status}")


def parse_notify_api_key(api_key: str) -> tuple[str, str]:
    """Split a Notify API key `name-serviceid-secret` into (service id, secret)."""
    key = api_key.strip()
    secret = key[-_UUID_LENGTH:]
    service_id = key[-2 * _UUID_LENGTH - 1 : -_UUID_LENGTH - 1]
    try:
        uuid.UUID(secret)
        uuid.UUID(service_id)
    except ValueError:
        raise ConfigError(
            "The GOV.UK Notify API key file does not hold a Notify API key "
            "(name-serviceid-secret): copy the key from Notify's API integration page again."
        ) from None
    return service_id, secret


def sender_for(settings: Settings) -> Sender:
    """The sender the settings choose, with its secrets read from their files."""
    notifications = settings.notifications
    if notifications.sender == "smtp":
        return _smtp_sender(notifications)
    if notifications.sender == "notify":
        return _notify_sender(notifications)
    raise ConfigError(
        'E-mail is switched off ([notifications] sender = "none"): set it to "smtp" or '
        '"notify" to send the queued notifications.'
    )


def _smtp_sender(notifications: NotificationSettings) -> SmtpSender:
    if bool(notifications.smtp_username) != bool(notifications.smtp_password_file):
        raise ConfigError(
            "SMTP sign-in needs both a user name and a password file: set [notifications] "
            "smtp_username and smtp_password_file together, or neither."
        )
    password = None
    if notifications.smtp_password_file is not None:
        password = _read_secret(notifications.smtp_password_file, "SMTP password file")
    return SmtpSender(
        host=notifications.smtp_host,
        port=notifications.smtp_port,
        from_address=notifications.from_address,
        starttls=notifications.smtp_starttls,
        username=notifications.smtp_username,
        password=password,
        timeout=notifications.smtp_timeout_seconds,
    )


def _notify_sender(notifications: NotificationSettings) -> NotifySender:
    if notifications.notify_api_key_file is None:
        raise ConfigError(
            "GOV.UK Notify needs an API key: save it in a file only the service account can "
            "read and set [notifications] notify_api_key_file."
        )
    unknown = set(notifications.notify_template_ids) - {kind.value for kind in NotificationKind}
    if unknown:
        raise ConfigError(
            f"[notifications] notify_template_ids names {sorted(unknown)[0]!r}, which is not a "
            f"kind of notification: use {', '.join(kind.value for kind in NotificationKind)}."
        )
    templates: dict[NotificationKind, str] = {}
    for kind in NotificationKind:
        template = notifications.notify_template_ids.get(
            kind.value, notifications.notify_template_id
        )
        if not template:
            raise ConfigError(
                f"No GOV.UK Notify template for {kind.value} e-mails: set [notifications] "
                "notify_template_id (or notify_template_ids for that kind)."
            )
        templates[kind] = template
    api_key = _read_secret(notifications.notify_api_key_file, "GOV.UK Notify API key file")
    return NotifySender(
        api_key=api_key,
        template_ids=templates,
        base_url=notifications.notify_base_url,
        timeout=notifications.notify_timeout_seconds,
    )


def _read_secret(path: Path, what: str) -> str:
    path = path if path.is_absolute() else PROJECT_ROOT / path
    try:
        data = read_private_file(path, what, f"(umask 077 && cat > {path})", 4096)
    except PrivateFileError as error:
        raise ConfigError(str(error)) from None
    return data.decode("utf-8", errors="replace").strip()
