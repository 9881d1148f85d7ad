"""The web process's CMS adapter: made on first use from the settings and kept for the app,
so its cached token is shared by every request."""

from __future__ import annotations

from flask import current_app
from sqlalchemy.orm import Session

from portal.cases.directory import (
    Asker,
    CaseDirectory,
    CaseLookupUnavailable,
    CmsCaseDirectory,
    LocalCaseDirectory,
)
from portal.connector.adapter import CmsAdapter
from portal.connector.factory import ConnectorNotConfigured, adapter_for
from portal.crypto.records import RecordCipher
from portal.settings import Settings


def cms_adapter() -> CmsAdapter | None:
    """The configured adapter, or None when the portal runs with no CMS (never production)."""
    settings: Settings = current_app.config["PORTAL_SETTINGS"]
    if settings.cms.adapter == "none":
        return None
    adapter = current_app.extensions.get("cms_adapter")
    if adapter is None:
        adapter = current_app.extensions.setdefault("cms_adapter", adapter_for(settings.cms))
    return adapter  # type: ignore[no-any-return]


def case_directory(session: Session, cipher: RecordCipher, asker: Asker) -> CaseDirectory:
    try:
        adapter = cms_adapter()
    except ConnectorNotConfigured as error:
        current_app.logger.error("the CMS connector is not configured: %s", error)
        raise CaseLookupUnavailable(
            "The case management system cannot be reached from the portal just now: tell the "
            "portal's administrators."
        ) from None
    if adapter is None:
        return LocalCaseDirectory(session, cipher)
    return CmsCaseDirectory(session, cipher, adapter, asker)
