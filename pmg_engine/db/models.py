"""The SQL schema (DESIGN.md section 3). Alembic in ``migrations/`` is its only writer."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from pmg_engine.db.types import BigIntPK, StrEnumColumn, UTCDateTime, utcnow
from pmg_engine.states import JobStatus, Kind

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

USER_SOURCES = ("discord", "local")
MESSAGE_ROLES = ("user", "assistant")
BEHAVIOUR_KINDS = ("message", "sticker_request", "feedback", "emoji")
KEYWORD_RULES = ("pin", "ban")
GENERATION_KINDS = tuple(Kind)
GENERATION_STATUSES = tuple(JobStatus)


def _one_of(column: str, values: tuple[str, ...]) -> str:
    quoted = ", ".join(f"'{v}'" for v in values)
    return f"{column} IN ({quoted})"


class Base(DeclarativeBase):
    """The declarative base of every table, with the naming convention."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime,
        dict[str, Any]: JSON,
        list[Any]: JSON,
    }


class User(Base):
    """A person the bot talks to: a Discord snowflake, or a local-chat name mapped to an id."""

    __tablename__ = "users"
    __table_args__ = (CheckConstraint(_one_of("source", USER_SOURCES), name="source"),)

    # Snowflakes exceed 2**53 and are assigned by Discord, never by us.
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(100))
    source: Mapped[str] = mapped_column(String(16), default="discord")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    settings: Mapped[UserSettings | None] = relationship(
        back_populates="user", cascade="all, delete-orphan", passive_deletes=True
    )


class UserSettings(Base):
    """Per-user knobs: weight alpha, whether we may learn, whether their taste shows in public."""

    __tablename__ = "user_settings"
    __table_args__ = (
        CheckConstraint(
            "personalization_weight >= 0 AND personalization_weight <= 1", name="weight_range"
        ),
    )

    user_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    personalization_weight: Mapped[float] = mapped_column(Float, default=2 / 3)
    learning_opt_in: Mapped[bool] = mapped_column(Boolean, default=True)
    notice_shown: Mapped[bool] = mapped_column(Boolean, default=False)
    # Preference keywords come from private chats too: shown in public only when the user says so.
    share_keywords: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    user: Mapped[User] = relationship(back_populates="settings")


class KeywordRule(Base):
    """A keyword the user pinned (always used) or banned (never used)."""

    __tablename__ = "keyword_rules"
    __table_args__ = (
        UniqueConstraint("user_id", "keyword"),
        CheckConstraint(_one_of("rule", KEYWORD_RULES), name="rule"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    user_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    keyword: Mapped[str] = mapped_column(String(64))
    rule: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Message(Base):
    """One turn of conversation history, from the user or from the bot."""

    __tablename__ = "messages"
    __table_args__ = (
        CheckConstraint(_one_of("role", MESSAGE_ROLES), name="role"),
        Index("ix_messages_user_id_id", "user_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(16))
    content: Mapped[str] = mapped_column(Text)
    discord_message_id: Mapped[int | None] = mapped_column(BigInteger)
    channel_id: Mapped[int | None] = mapped_column(BigInteger)
    guild_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Behaviour(Base):
    """A typed event that feeds the preference profile (paper section 1.1, step 1)."""

    __tablename__ = "behaviours"
    __table_args__ = (
        CheckConstraint(_one_of("kind", BEHAVIOUR_KINDS), name="kind"),
        Index("ix_behaviours_user_id_id", "user_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    message_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("messages.id", ondelete="SET NULL"), index=True
    )
    generation_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("generations.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PreferenceProfile(Base):
    """One version of a user's learned preferences: explicit keywords and implicit embedding."""

    __tablename__ = "preference_profiles"
    __table_args__ = (
        UniqueConstraint("user_id", "version"),
        CheckConstraint(
            "(embedding IS NULL AND embedding_dim IS NULL)"
            " OR (embedding IS NOT NULL AND embedding_dim > 0)",
            name="embedding_dim",
        ),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    user_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    version: Mapped[int] = mapped_column(Integer)
    keywords: Mapped[list[Any]] = mapped_column(default=list)
    # Little-endian float32, shape [num_tokens, embedding_dim] flattened (DESIGN.md section 3).
    embedding: Mapped[bytes | None] = mapped_column(LargeBinary)
    embedding_dim: Mapped[int | None] = mapped_column(Integer)
    embedding_model: Mapped[str | None] = mapped_column(String(200))
    llm_model: Mapped[str | None] = mapped_column(String(200))
    last_behaviour_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Generation(Base):
    """One generation job and its result; the row is the source of truth for the queue."""

    __tablename__ = "generations"
    __table_args__ = (
        CheckConstraint(_one_of("kind", GENERATION_KINDS), name="kind"),
        CheckConstraint(_one_of("status", GENERATION_STATUSES), name="status"),
        CheckConstraint(
            "personalization_weight >= 0 AND personalization_weight <= 1", name="weight_range"
        ),
        Index("ix_generations_status_created_at", "status", "created_at"),
        Index("ix_generations_delivered_at_status", "delivered_at", "status"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    # Idempotency key (e.g. the interaction id): a double submit finds the same row.
    job_key: Mapped[str] = mapped_column(String(100), unique=True)
    user_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    profile_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("preference_profiles.id", ondelete="SET NULL")
    )
    parent_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("generations.id", ondelete="SET NULL")
    )
    kind: Mapped[Kind] = mapped_column(StrEnumColumn(Kind, 16), default=Kind.STICKER)
    prompt: Mapped[str] = mapped_column(Text)
    target_keywords: Mapped[list[Any]] = mapped_column(default=list)
    preference_keywords: Mapped[list[Any]] = mapped_column(default=list)
    personalization_weight: Mapped[float] = mapped_column(Float)
    seed: Mapped[int] = mapped_column(BigInteger)
    model_id: Mapped[str | None] = mapped_column(String(200))
    candidates: Mapped[list[Any]] = mapped_column(default=list)
    selected_index: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[JobStatus] = mapped_column(
        StrEnumColumn(JobStatus, 16), default=JobStatus.QUEUED
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    worker_id: Mapped[str | None] = mapped_column(String(200))
    output_key: Mapped[str | None] = mapped_column(String(500))
    timings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    channel_id: Mapped[int | None] = mapped_column(BigInteger)
    guild_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()
    # The delivery outbox (DESIGN.md section 4): a finished Discord job with no delivered_at
    # is still owed to its user; the note says how it went out, or why an attempt failed.
    delivered_at: Mapped[datetime | None] = mapped_column()
    delivery_note: Mapped[str | None] = mapped_column(String(200))


class Feedback(Base):
    """A 👍 or 👎 on a generation; one vote per user and generation, the latest wins."""

    __tablename__ = "feedback"
    __table_args__ = (UniqueConstraint("user_id", "generation_id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    user_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    generation_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("generations.id", ondelete="CASCADE"), index=True
    )
    liked: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ChannelSettings(Base):
    """A Discord channel where an admin enabled (or disabled) the chat replies."""

    __tablename__ = "channel_settings"

    channel_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    guild_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    chat_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_by: Mapped[int | None] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
