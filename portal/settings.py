"""The shape of the portal's settings: one pydantic model per `[section]` of the TOML files.

Loading, overriding, resolving paths and refusing unsafe production settings are in
portal/config.py, which is what the rest of the portal imports.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Environment = Literal["production", "demo", "test", "bench"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ServiceSettings(_Section):
    name: str = "Share information with children's services"
    council_name: str = "Northmoor County Council"
    # The address people reach the portal at: identity providers send them back to it.
    base_url: str = Field(default="http://127.0.0.1:5000", pattern=r"^https?://[^/?#]+$")
    # Where people report accessibility problems (the accessibility statement names it);
    # unset, the statement sends them to the council's children's services.
    accessibility_contact_email: str | None = Field(
        default=None, pattern=r"^[^@\s<>\"]+@[^@\s<>\"]+$"
    )


class DatabaseSettings(_Section):
    url: str = Field(min_length=1)
    # Within a web request, no PostgreSQL statement may run longer (0: no limit). gunicorn's
    # threads put no limit on a request, so a stuck query would otherwise hold one for good;
    # it ends as the "service unavailable" page instead. Commands and workers are not limited.
    statement_timeout_seconds: int = Field(default=30, ge=0, le=3600)


class KeyringSettings(_Section):
    path: Path


class SecuritySettings(_Section):
    secret_key: str | None = Field(default=None, repr=False)
    secret_key_file: Path | None = None
    session_cookie_secure: bool = True
    # Where rate-limit counters live: redis://… shared by every web process, or memory://
    # (one process only, for the demo).
    rate_limit_storage: str = "memory://"
    rate_limit_key_prefix: str = "portal"
    sign_in_rate_limit: str = "30 per minute; 300 per hour"
    # How many reverse proxies sit in front of the web processes, each overwriting or
    # appending one X-Forwarded-For entry: the client address and scheme come from that many
    # entries from the right. 0 (the default) ignores every X-Forwarded-* header, since a
    # client could send its own; 1 behind the infra/nginx proxy. See docs/operations.md.
    proxy_hops: int = Field(default=0, ge=0, le=5)


class AuthSettings(_Section):
    idle_timeout_minutes: int = Field(default=30, ge=1, le=24 * 60)
    absolute_timeout_hours: int = Field(default=10, ge=1, le=24 * 7)
    # Clock skew allowed on identity providers' `iat`: at most a minute.
    clock_skew_seconds: int = Field(default=60, ge=0, le=60)
    # How long to wait for an identity provider's discovery, keys, token or userinfo answer.
    provider_timeout_seconds: float = Field(default=10, gt=0, le=60)


class AuditSettings(_Section):
    # Ed25519 key that signs checkpoints, outside the database (`portal audit
    # create-signing-key`). Production requires it.
    signing_key_file: Path | None = None
    # Public keys of retired signing keys, so old checkpoints still verify after a rotation.
    trusted_public_key_files: list[Path] = Field(default_factory=list)
    # The log's name in its signed checkpoints (C2SP tlog-checkpoint "origin") and the key
    # name of their signatures. Empty: "<the host of [service] base_url>/audit".
    log_origin: str = Field(default="", max_length=200, pattern=r"^[\x21-\x7e]*$")
    # The sequencer signs a checkpoint of the tree this often, in seconds, if it grew...
    checkpoint_interval_seconds: int = Field(default=60, ge=5, le=3600)
    # ...and as soon as this many events were added since the last one.
    checkpoint_after_events: int = Field(default=1000, ge=1)
    # The append-only checkpoint store outside the database: a directory on another volume,
    # writable by the sequencer only (docs/audit.md). Production requires it.
    witness_directory: Path | None = None
    # The RFC 3161 time-stamping authority the council chose, and its trust root (PEM) for
    # checking its tokens. Production requires both.
    tsa_url: str | None = None
    tsa_certificate_file: Path | None = None
    # Events are kept at least this long, and never removed when content is shredded.
    retention_years: int = Field(default=7, ge=1, le=100)


class LawfulBasis(_Section):
    code: str = Field(pattern=r"^[a-z0-9-]{1,100}$")
    label: str = Field(min_length=1, max_length=200)


def _default_lawful_bases() -> list[LawfulBasis]:
    return [
        LawfulBasis(
            code="children-act-1989-s17",
            label="Children Act 1989, section 17: assessing a child in need",
        ),
        LawfulBasis(
            code="children-act-1989-s47",
            label="Children Act 1989, section 47: enquiries where a child may be suffering "
            "significant harm",
        ),
        LawfulBasis(
            code="children-act-2004-s11",
            label="Children Act 2004, section 11: safeguarding and promoting welfare",
        ),
    ]


class RequestSettings(_Section):
    # The lawful bases a social worker chooses from when sharing; the code is what is stored.
    lawful_bases: list[LawfulBasis] = Field(default_factory=_default_lawful_bases, min_length=1)
    default_due_days: int = Field(default=10, ge=1, le=365)
    default_expiry_days: int = Field(default=60, ge=1, le=730)
    forms_directory: Path = Path("config/forms")
    # Which of a child's identifiers a police partner sees and matches on: none unless the
    # council's information-sharing agreement with its force provides for one.
    # Codes of portal.cases.identifiers.ChildIdentifier (which the cores' settings may not
    # import); portal.auth.policy reads them.
    police_identifiers: list[Literal["nhs_number", "upn"]] = Field(default_factory=list)


class NotificationSettings(_Section):
    """E-mail to people about their requests, sent by `portal notifications send`."""

    # Who delivers the e-mail: an SMTP relay, GOV.UK Notify, or nobody (never in production).
    sender: Literal["smtp", "notify", "none"] = "smtp"
    smtp_host: str = Field(default="127.0.0.1", min_length=1)
    smtp_port: int = Field(default=8025, ge=1, le=65535)
    smtp_starttls: bool = False
    smtp_username: str | None = None
    # The relay's password, from a file only the service account can read (mode 600).
    smtp_password_file: Path | None = None
    smtp_timeout_seconds: float = Field(default=10, gt=0, le=60)
    from_address: str = Field(
        default="no-reply@partner-portal.invalid", pattern=r"^[^@\s<>\"]+@[^@\s<>\"]+$"
    )
    # GOV.UK Notify: the API key (`name-serviceid-secret`) from a file (mode 600), the e-mail
    # template used for every kind, and optionally one template per kind (kind = template id).
    notify_api_key_file: Path | None = None
    notify_template_id: str | None = None
    notify_template_ids: dict[str, str] = Field(default_factory=dict)
    notify_base_url: str = Field(
        default="https://api.notifications.service.gov.uk", pattern=r"^https?://[^?#]+[^/?#]$"
    )
    notify_timeout_seconds: float = Field(default=10, gt=0, le=60)
    # The due-soon reminder goes this many days before the due date.
    reminder_days_before_due: int = Field(default=2, ge=0, le=60)
    # Attempts before a notification is marked failed; retries back off exponentially.
    max_attempts: int = Field(default=5, ge=1, le=20)
    # How often `portal notifications send --loop` sends what is due and schedules reminders.
    send_interval_seconds: int = Field(default=30, ge=1, le=3600)


# What partners may upload, by the type detected from the content (never the name).
DEFAULT_ATTACHMENT_TYPES = (
    "application/pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.oasis.opendocument.text",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "image/png",
    "image/jpeg",
    "text/plain",
)


MediaType = Annotated[str, Field(pattern=r"^[a-z0-9.+-]+/[a-z0-9.+-]+$")]
# Legacy Office binary files (OLE2 compound files: Word and Excel 97-2003) are refused whatever
# the settings say: the portal cannot inspect them (docs/attachments.md, "Inspection").
LEGACY_OFFICE_TYPES = frozenset(
    {"application/msword", "application/vnd.ms-excel", "application/x-ole-storage"}
)


# The kinds the disarm engine can make a safe copy of (portal.disarm.kinds.ALL, which the
# settings do not import: tests/unit/test_disarm_settings.py keeps the two the same).
SAFE_COPY_TYPES = frozenset(
    {
        *DEFAULT_ATTACHMENT_TYPES,
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "application/vnd.oasis.opendocument.spreadsheet",
        "application/vnd.oasis.opendocument.presentation",
    }
)


class AttachmentSettings(_Section):
    # Encrypted files (<attachment id>.pdsf), outside the database; relative to the project.
    storage_directory: Path = Path("instance/files")
    max_bytes: int = Field(default=25 * 1024 * 1024, ge=1, le=1024 * 1024 * 1024)
    allowed_types: list[MediaType] = Field(
        default_factory=lambda: list(DEFAULT_ATTACHMENT_TYPES), min_length=1
    )
    # "clamd": every file is scanned by ClamAV's clamd (production requires it); "none":
    # files are accepted unscanned and recorded as not scanned (demo and tests only).
    scanner: Literal["clamd", "none"] = "clamd"
    clamd_socket: Path | None = None
    clamd_host: str | None = None
    clamd_port: int = Field(default=3310, ge=1, le=65535)
    scan_timeout_seconds: float = Field(default=30, gt=0, le=600)
    # Readiness reports clamd unchecked once the last passing `portal attachments check-scanner`
    # is older than this: a changed clamd.conf is only found by the next run (the daily timer,
    # infra/systemd/portal-scanner-check.timer).
    scanner_check_max_age_hours: float = Field(default=24, gt=0, le=24 * 31)
    # The portal's own inspection of ZIP-based documents (docs/attachments.md, "Inspection"),
    # before and beside the scanner. The sizes are decompressed bytes, counted as they come out
    # (never the sizes the archive declares), and must not exceed clamd's MaxFileSize and
    # MaxScanSize (infra/clamav/clamd.conf), so that the scanner looks at least as far.
    max_members: int = Field(default=1000, ge=1, le=100_000)
    max_member_bytes: int = Field(default=100 * 1024 * 1024, ge=1024, le=4 * 1024**3 - 1)
    max_total_uncompressed_bytes: int = Field(
        default=200 * 1024 * 1024, ge=1024, le=4 * 1024**3 - 1
    )
    # Decompressed bytes per compressed byte, checked once a member passes 1 MiB: office
    # documents compress about 5 to 30 times; the zip bombs seen compress 1000 times.
    max_compression_ratio: int = Field(default=200, ge=2, le=10_000)
    # What the CMS delivery carries for each document: the disarmed safe copy (the default)
    # or the original as the partner sent it.
    deliver_to_cms: Literal["safe_copy", "original"] = "safe_copy"

    @field_validator("allowed_types")
    @classmethod
    def _no_legacy_office(cls, types: list[str]) -> list[str]:
        listed = sorted(LEGACY_OFFICE_TYPES.intersection(types))
        if listed:
            raise ValueError(
                f"{', '.join(listed)} cannot be allowed: legacy Word and Excel files are always "
                "refused (docs/attachments.md, Inspection); remove it from the list"
            )
        return types

    @field_validator("allowed_types")
    @classmethod
    def _only_what_can_be_made_safe(cls, types: list[str]) -> list[str]:
        listed = sorted(set(types) - SAFE_COPY_TYPES)
        if listed:
            raise ValueError(
                f"{', '.join(listed)} cannot be allowed: no safe copy can be made of it "
                "(docs/disarm.md); remove it from the list"
            )
        return types


LEASE_MARGIN_SECONDS = 60


class DisarmSettings(_Section):
    """Content disarm: each document rebuilt as a safe copy by a worker process in a sandbox
    (no network; CPU, memory, time and output limits), never by a web process (docs/disarm.md)."""

    # The sandboxed converter's limits, per document.
    memory_mb: int = Field(default=2048, ge=256, le=65536)
    cpu_seconds: int = Field(default=120, ge=5, le=3600)
    wall_seconds: int = Field(default=180, ge=5, le=3600)
    max_pages: int = Field(default=300, ge=1, le=10_000)
    max_output_bytes: int = Field(default=200 * 1024 * 1024, ge=1024 * 1024, le=4 * 1024**3)
    # Pages are rendered at this resolution before they are rebuilt as a plain PDF.
    dpi: int = Field(default=150, ge=50, le=600)
    # LibreOffice's soffice, which converts office documents to PDF before they are rendered.
    libreoffice: str = "soffice"
    # How many times a document that failed for a passing reason (the worker stopped) is tried.
    max_attempts: int = Field(default=3, ge=1, le=20)
    poll_seconds: float = Field(default=2, gt=0, le=300)
    # How long a worker's claim on a document lasts: at least LEASE_MARGIN_SECONDS longer than
    # a conversion may take, so no other worker claims a document still being converted.
    lease_seconds: float = Field(default=600, gt=0, le=7200)

    @model_validator(mode="after")
    def _lease_outlasts_a_conversion(self) -> DisarmSettings:
        if self.lease_seconds < self.wall_seconds + LEASE_MARGIN_SECONDS:
            raise ValueError(
                f"lease_seconds ({self.lease_seconds:g}) must be at least wall_seconds "
                f"({self.wall_seconds}) + {LEASE_MARGIN_SECONDS}: a shorter lease lets a second "
                "worker claim a document still being converted"
            )
        return self


class CmsSettings(_Section):
    """The council's case management system, reached through a connector adapter."""

    # "reference": the reference CMS's API (the demo and the tests); "generic": a REST API
    # described by `mapping_file`; "none": no CMS (cases the portal already holds only, and
    # nothing is delivered; refused in production).
    adapter: Literal["reference", "generic", "none"] = "none"
    base_url: str | None = Field(default=None, pattern=r"^https?://[^?#]+[^/?#]$")
    client_id: str | None = None
    client_secret_file: Path | None = None
    # The generic adapter's endpoints, authentication and field mapping (config/cms/).
    mapping_file: Path | None = None
    connect_timeout_seconds: float = Field(default=5, gt=0, le=60)
    timeout_seconds: float = Field(default=30, gt=0, le=300)
    # Delivery: how often to try, how long to wait between tries, and how long a worker's claim
    # on a delivery lasts before another worker may take it over (longer than a send can take).
    max_attempts: int = Field(default=30, ge=1, le=1000)
    retry_base_seconds: float = Field(default=10, gt=0, le=3600)
    retry_ceiling_seconds: float = Field(default=3600, gt=0, le=86400)
    lease_seconds: float = Field(default=300, gt=0, le=3600)
    batch_size: int = Field(default=10, ge=1, le=500)
    poll_seconds: float = Field(default=2, gt=0, le=300)


class ObservabilitySettings(_Section):
    """Logs and metrics (portal/observability/)."""

    # "json": one JSON object per line, for a log shipper (production and tests); "text": one
    # readable line per record, for a person watching a terminal (the demo).
    log_format: Literal["json", "text"] = "json"
    # The bearer token GET /metrics requires, in a file only the service account can read
    # (mode 600; `portal secret-key create --path PATH` makes one). Unset, /metrics is 404.
    metrics_token_file: Path | None = None


class RetentionSettings(_Section):
    """How long the portal keeps contribution content once a request is closed, before
    `portal retention run` crypto-shreds it (answers, documents, review reasons), per outcome;
    a legal hold stops it. The audit trail is kept apart ([audit] retention_years)."""

    # Counted from delivery into the CMS, which holds the record of truth from then on.
    delivered_days: int = Field(default=90, ge=1, le=36500)
    # Counted from closing: the portal's copy is the only one, and a complaint about the
    # decision can come up to a year later.
    rejected_days: int = Field(default=365, ge=1, le=36500)
    revoked_days: int = Field(default=365, ge=1, le=36500)
    expired_days: int = Field(default=365, ge=1, le=36500)
    # Closed because the partner knows none of the children: nothing was shared, but the
    # request's own purpose and message stay until then, for a complaint about it.
    child_not_known_days: int = Field(default=365, ge=1, le=36500)
    # Requests looked at per query; each is still shredded in its own transaction.
    batch_size: int = Field(default=100, ge=1, le=10000)


class OnboardingSettings(_Section):
    """Organisations joining the pilot (docs/onboarding.md)."""

    # How many days before an information-sharing agreement's review date the officers and the
    # partner lead are warned (`portal onboarding remind`, daily): once at each.
    agreement_warning_days: tuple[int, ...] = Field(default=(30, 7), min_length=1)

    @field_validator("agreement_warning_days")
    @classmethod
    def _positive_and_descending(cls, days: tuple[int, ...]) -> tuple[int, ...]:
        if any(day < 1 or day > 365 for day in days):
            raise ValueError("each warning is 1 to 365 days before the review date")
        return tuple(sorted(set(days), reverse=True))


class PilotSettings(_Section):
    """The pilot's figures (docs/pilot.md)."""

    # Counts below this are shown as "fewer than N" in anything exported, so that no child or
    # family can be singled out; times computed from fewer requests are left out too.
    suppress_below: int = Field(default=5, ge=1, le=100)


class Settings(_Section):
    environment: Environment
    source: str
    service: ServiceSettings = ServiceSettings()
    database: DatabaseSettings
    keyring: KeyringSettings
    security: SecuritySettings = SecuritySettings()
    auth: AuthSettings = AuthSettings()
    audit: AuditSettings = AuditSettings()
    requests: RequestSettings = RequestSettings()
    notifications: NotificationSettings = NotificationSettings()
    attachments: AttachmentSettings = AttachmentSettings()
    disarm: DisarmSettings = DisarmSettings()
    cms: CmsSettings = CmsSettings()
    retention: RetentionSettings = RetentionSettings()
    onboarding: OnboardingSettings = OnboardingSettings()
    pilot: PilotSettings = PilotSettings()
    observability: ObservabilitySettings = ObservabilitySettings()

    @property
    def is_production(self) -> bool:
        return self.environment == "production"
