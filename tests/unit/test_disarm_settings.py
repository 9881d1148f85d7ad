"""The `[disarm]` and `[attachments]` settings refuse what the disarm worker could not honour:
a lease shorter than a conversion, and a type no safe copy can be made of."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from portal.config import ConfigError, load_settings
from portal.disarm import kinds
from portal.settings import (
    DEFAULT_ATTACHMENT_TYPES,
    SAFE_COPY_TYPES,
    AttachmentSettings,
    DisarmSettings,
)


def test_a_lease_must_outlast_the_longest_conversion_by_a_margin() -> None:
    assert DisarmSettings(wall_seconds=180, lease_seconds=240).lease_seconds == 240
    with pytest.raises(ValidationError, match=r"lease_seconds \(239\) must be at least"):
        DisarmSettings(wall_seconds=180, lease_seconds=239)
    with pytest.raises(ConfigError, match="setting disarm is invalid.*lease_seconds"):
        load_settings(
            {"PORTAL_ENV": "test"}, overrides={"disarm": {"wall_seconds": 600}}
        )  # the default lease (600 s) is now too short


def test_only_types_a_safe_copy_can_be_made_of_may_be_allowed() -> None:
    assert SAFE_COPY_TYPES == kinds.ALL  # the settings' copy of the engine's list
    assert AttachmentSettings(allowed_types=list(DEFAULT_ATTACHMENT_TYPES))
    with pytest.raises(ValidationError, match="application/zip cannot be allowed: no safe copy"):
        AttachmentSettings(allowed_types=["application/pdf", "application/zip"])
    with pytest.raises(ConfigError, match=r"\[attachments\] allowed_types is invalid"):
        load_settings(
            {"PORTAL_ENV": "test"},
            overrides={"attachments": {"allowed_types": ["image/gif"]}},
        )
