"""The adapter the settings ask for: the reference CMS's contract, or a mapped REST API."""

from __future__ import annotations

from portal.connector.mapping import REFERENCE_MAPPING, MappingError, load_mapping
from portal.connector.rest import RestAdapter
from portal.settings import CmsSettings


class ConnectorNotConfigured(Exception):
    """The settings name no CMS, or not enough to reach one; the message says what to set."""


def adapter_for(settings: CmsSettings) -> RestAdapter:
    if settings.adapter == "none":
        raise ConnectorNotConfigured(
            'No case management system is configured: set [cms] adapter to "reference" or '
            '"generic", with base_url and credentials.'
        )
    if settings.base_url is None:
        raise ConnectorNotConfigured("Set [cms] base_url to the CMS's API address.")
    if settings.client_secret_file is None:
        raise ConnectorNotConfigured(
            "Set [cms] client_secret_file to the CMS client secret's file."
        )
    if settings.adapter == "generic":
        if settings.mapping_file is None:
            raise ConnectorNotConfigured("The generic adapter needs [cms] mapping_file.")
        try:
            mapping = load_mapping(settings.mapping_file)
        except MappingError as error:
            raise ConnectorNotConfigured(str(error)) from None
    else:
        mapping = REFERENCE_MAPPING
    if mapping.auth.kind == "client_credentials" and not settings.client_id:
        raise ConnectorNotConfigured("Set [cms] client_id: the CMS issues tokens to a client.")
    try:
        secret = settings.client_secret_file.read_text(encoding="utf-8").strip()
    except OSError as error:
        raise ConnectorNotConfigured(
            f"Cannot read [cms] client_secret_file {settings.client_secret_file}: {error.strerror}"
        ) from None
    if not secret:
        raise ConnectorNotConfigured(
            f"[cms] client_secret_file {settings.client_secret_file} is empty."
        )
    return RestAdapter(
        mapping,
        base_url=settings.base_url,
        client_id=settings.client_id or "",
        client_secret=secret,
        connect_timeout=settings.connect_timeout_seconds,
        timeout=settings.timeout_seconds,
    )
