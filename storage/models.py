"""The database schema as typed SQLAlchemy models; `migrations/versions` creates the same tables.

Only `storage/` sees these classes: `Store` turns rows into frozen dataclasses before they leave.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

# Named constraints, so a later migration can drop or alter them by a name it can predict.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utc_now() -> datetime:
    """The current time as an aware UTC datetime: the only kind this schema stores."""
    return datetime.now(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp that is aware UTC on the way in and on the way out, on every backend.

    SQLite has no time zones and hands back naive values; converting to UTC before binding keeps
    its text comparisons (`created_at < cutoff`) correct. A naive value is refused rather than
    guessed at, because a guessed zone would silently shift retention by hours.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: pass an aware one, e.g. datetime.now(UTC)")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UtcDateTime(),
        dict[str, Any]: JSON(),
        list[str]: JSON(),
    }


class Chat(Base):
    """A conversation place on one platform (a Telegram chat, a Discord channel or DM)."""

    __tablename__ = "chats"
    __table_args__ = (UniqueConstraint("platform", "external_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    platform: Mapped[str] = mapped_column(String(32))
    external_id: Mapped[str] = mapped_column(String(255))
    # Bumped by a reset: history only reads turns of the current number, older ones stay on record.
    conversation: Mapped[int] = mapped_column(default=0, server_default=text("0"))
    # use_alter: chats and images point at each other, so this key is added after both tables exist.
    active_image_id: Mapped[int | None] = mapped_column(
        ForeignKey("images.id", ondelete="SET NULL", use_alter=True), index=True
    )
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default="{}")
    created_at: Mapped[datetime] = mapped_column(default=utc_now, server_default=func.now())


class Image(Base):
    """A photo as sent in one chat; the same bytes sent twice in that chat are one row."""

    __tablename__ = "images"
    __table_args__ = (UniqueConstraint("chat_id", "content_hash"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # No index of its own: the unique (chat_id, content_hash) index starts with it.
    chat_id: Mapped[int] = mapped_column(ForeignKey("chats.id", ondelete="CASCADE"))
    content_hash: Mapped[str] = mapped_column(String(64))  # sha256, hex
    data: Mapped[bytes] = mapped_column(LargeBinary)
    mime: Mapped[str] = mapped_column(String(100))
    width: Mapped[int]
    height: Mapped[int]
    size_bytes: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(default=utc_now, server_default=func.now(), index=True)


class Turn(Base):
    """One answer the bot gave: a caption of a new photo, or an answer to a question about one."""

    __tablename__ = "turns"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chat_id: Mapped[int] = mapped_column(ForeignKey("chats.id", ondelete="CASCADE"), index=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"), index=True)
    conversation: Mapped[int]
    kind: Mapped[str] = mapped_column(String(16))  # a TurnKind value
    question: Mapped[str | None] = mapped_column(Text)
    answer: Mapped[str] = mapped_column(Text)
    model: Mapped[str] = mapped_column(String(255))
    latency_ms: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(default=utc_now, server_default=func.now(), index=True)


class MessageImage(Base):
    """Which image a platform message is about, so a reply to that message asks about that image."""

    __tablename__ = "message_images"

    chat_id: Mapped[int] = mapped_column(ForeignKey("chats.id", ondelete="CASCADE"), primary_key=True)
    message_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"), index=True)


class UserSettings(Base):
    """A person's preferences on one platform, kept across all chats they use the bot in."""

    __tablename__ = "user_settings"

    platform: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default="{}")
    updated_at: Mapped[datetime] = mapped_column(default=utc_now, server_default=func.now())


class PendingReply(Base):
    """A reply whose model work went to the networked queue: enough to finish and send it later.

    Written by the front end once its jobs are queued, closed when the reply is handed to the
    platform. A front end that died leaves it open; another one finishes and sends it.
    """

    __tablename__ = "pending_replies"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    platform: Mapped[str] = mapped_column(String(32))
    chat_external_id: Mapped[str] = mapped_column(String(255))
    user_id: Mapped[str] = mapped_column(String(255))
    reply_to: Mapped[str | None] = mapped_column(String(255))
    image_id: Mapped[int]
    kind: Mapped[str] = mapped_column(String(16))
    params: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default="{}")
    job_ids: Mapped[list[str]] = mapped_column(default=list, server_default="[]")
    frontend: Mapped[str] = mapped_column(String(32), index=True)
    delivered: Mapped[bool] = mapped_column(default=False, server_default=text("false"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utc_now, server_default=func.now(), index=True)


class JobResult(Base):
    """A worker's answer to one job, stored before the job is acknowledged (so none is lost)."""

    __tablename__ = "job_results"

    job_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    payload: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utc_now, server_default=func.now(), index=True)


class Prediction(Base):
    """One run of the model asked for over the HTTP API (Replicate's or eachlabs' shape).

    `input` holds the inputs as given, except images: the API stores a reference, never the data.
    """

    __tablename__ = "predictions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    model: Mapped[str] = mapped_column(String(255))  # e.g. "blipbot/blip-2"
    version: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))  # a PredictionStatus value
    input: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default="{}")
    output: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    logs: Mapped[str] = mapped_column(Text, default="", server_default="")
    predict_time_s: Mapped[float | None] = mapped_column(Float)
    webhook: Mapped[str | None] = mapped_column(String(2048))
    webhook_events: Mapped[list[str]] = mapped_column(default=list, server_default="[]")
    source: Mapped[str] = mapped_column(String(16))  # "replicate" or "eachlabs": the shape it came in
    # sha256 of the API token that created it, hex: a client lists only its own predictions.
    token_hash: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utc_now, server_default=func.now(), index=True)
    started_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]


class FileUpload(Base):
    """A file sent to the HTTP API's files endpoint (`POST /v1/files`), to be named by URL in an input.

    Kept like a chat's photos: for `storage.retention_days`, then purged.
    """

    __tablename__ = "uploaded_files"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(255))
    size: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64))  # of data, hex
    data: Mapped[bytes] = mapped_column(LargeBinary)
    # `metadata` is taken by SQLAlchemy's declarative base, hence the column name below.
    details: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict, server_default="{}")
    token_hash: Mapped[str | None] = mapped_column(String(64))  # sha256 of the uploading token, hex
    created_at: Mapped[datetime] = mapped_column(default=utc_now, server_default=func.now(), index=True)
