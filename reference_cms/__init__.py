"""A reference case management system: a small HTTP service standing in for a council's CMS."""

from reference_cms.app import create_app

__all__ = ["create_app"]
