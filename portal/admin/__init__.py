"""The portal administrator's pages: organisations and their identity providers."""

from portal.admin.routes import blueprint

__all__ = ["blueprint"]
