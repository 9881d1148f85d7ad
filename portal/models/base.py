"""Declarative base, column types and mixins shared by every model."""

from __future__ import annotations

import enum
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column, relationship

if TYPE_CHECKING:
    from portal.models.keys import DataKey

# Stable constraint names, so migrations can alter them on PostgreSQL and SQLite alike.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """A timestamp that is always timezone-aware UTC, on SQLite as on PostgreSQL."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are refused: use datetime.now(UTC)")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        # SQLite keeps no zone; every value written here was UTC.
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


def enum_type(enum_class: type[enum.Enum]) -> sa.Enum:
    """Store an enum as its string value with a CHECK constraint (portable, readable in SQL)."""
    return sa.Enum(
        enum_class,
        name=enum_class.__name__.lower(),
        native_enum=False,
        create_constraint=True,
        length=32,
        values_callable=lambda members: [member.value for member in members],
        validate_strings=True,
    )


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {
        datetime: UTCDateTime(),
        uuid.UUID: sa.Uuid(),
        dict[str, Any]: sa.JSON(),
        list[str]: sa.JSON(),
        bytes: sa.LargeBinary(),
    }


class HasId:
    """A random UUID primary key: ids in URLs reveal nothing and are known before INSERT,
    which the encryption needs (a ciphertext is bound to its row id)."""

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)

    def ensure_id(self) -> uuid.UUID:
        if self.id is None:
            self.id = uuid.uuid4()
        return self.id


class HasTimestamps:
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Sealed(HasId):
    """A record whose sensitive columns are encrypted under its own data key (see
    portal.crypto.records). Destroying the data key crypto-shreds every such column at once."""

    data_key_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("data_keys.id", ondelete="RESTRICT"), index=True
    )

    @declared_attr
    def data_key(cls) -> Mapped[DataKey | None]:  # noqa: N805 - SQLAlchemy passes the class
        return relationship("DataKey", lazy="joined")
