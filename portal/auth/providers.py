"""Finding the identity provider a sign-in goes through: by its slug (its own callback and
logout URLs name it), by a work e-mail address's domain, or for the list people choose from."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.models import IdentityProvider, Organisation, OrganisationStage


def provider_by_slug(session: Session, slug: str) -> IdentityProvider | None:
    return session.scalar(sa.select(IdentityProvider).where(IdentityProvider.slug == slug))


def provider_by_id(session: Session, provider_id: uuid.UUID | None) -> IdentityProvider | None:
    return session.get(IdentityProvider, provider_id) if provider_id else None


def providers_to_choose(session: Session) -> list[IdentityProvider]:
    """Every enabled provider, by organisation name, for "choose your organisation"; none of
    an organisation that has left the pilot (its people would only be refused)."""
    return list(
        session.scalars(
            sa.select(IdentityProvider)
            .join(Organisation)
            .where(
                IdentityProvider.enabled.is_(True),
                Organisation.stage != OrganisationStage.LEFT,
            )
            .order_by(Organisation.name, IdentityProvider.display_name)
        )
    )


def provider_for_email(session: Session, email: str) -> IdentityProvider | None:
    """The one enabled provider whose entry allows the address's domain; None when no entry,
    or more than one, does (the person then chooses their organisation from the list)."""
    domain = email.rsplit("@", 1)[-1].strip().lower()
    candidates = [
        provider
        for provider in session.scalars(
            sa.select(IdentityProvider).where(IdentityProvider.enabled.is_(True))
        )
        if domain in provider.allowed_email_domains
    ]
    return candidates[0] if len(candidates) == 1 else None
