"""Repository functions: small, keyword-only, one statement of intent each (STYLE.md 10).

They flush but never commit: the caller owns the transaction.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from pmg_engine.db.models import (
    BEHAVIOUR_KINDS,
    GENERATION_KINDS,
    KEYWORD_RULES,
    MESSAGE_ROLES,
    USER_SOURCES,
    Behaviour,
    ChannelSettings,
    Feedback,
    Generation,
    KeywordRule,
    Message,
    PreferenceProfile,
    User,
    UserSettings,
)
from pmg_engine.db.types import utcnow
from pmg_engine.errors import InvalidInputError, NotFoundError

MAX_KEYWORD_CHARS = 64
SNOWFLAKE_MAX = 2**63 - 1


def _check_user_id(user_id: int) -> None:
    if not isinstance(user_id, int) or isinstance(user_id, bool):
        raise InvalidInputError(f"user_id must be an integer, got {user_id!r}")
    if not -SNOWFLAKE_MAX <= user_id <= SNOWFLAKE_MAX:
        raise InvalidInputError(f"user_id {user_id} does not fit in a signed 64-bit integer")


def _check_choice(name: str, value: str, allowed: Sequence[str]) -> None:
    if value not in allowed:
        raise InvalidInputError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")


# -- users and settings -------------------------------------------------------------------------


async def get_user(*, session: AsyncSession, user_id: int) -> User | None:
    """Return the user, or ``None``."""
    _check_user_id(user_id)
    return await session.get(User, user_id)


async def require_user(*, session: AsyncSession, user_id: int) -> User:
    """Return the user or raise ``NotFoundError`` naming the id."""
    user = await get_user(session=session, user_id=user_id)
    if user is None:
        raise NotFoundError(f"no user with id {user_id} is stored")
    return user


async def upsert_user(
    *,
    session: AsyncSession,
    user_id: int,
    name: str,
    source: str = "discord",
    learning_opt_in: bool = True,
) -> User:
    """Create the user (with default settings) or refresh their name and last-seen time."""
    _check_user_id(user_id)
    _check_choice("source", source, USER_SOURCES)
    clean_name = name.strip()[:100] or str(user_id)
    user = await session.get(User, user_id)
    if user is None:
        user = User(id=user_id, name=clean_name, source=source)
        session.add(user)
        session.add(UserSettings(user_id=user_id, learning_opt_in=learning_opt_in))
    else:
        user.name = clean_name
        user.last_seen_at = utcnow()
    await session.flush()
    return user


async def list_users(*, session: AsyncSession, limit: int = 100, offset: int = 0) -> list[User]:
    """Return users, most recently seen first."""
    stmt = select(User).order_by(User.last_seen_at.desc(), User.id).limit(limit).offset(offset)
    return list((await session.scalars(stmt)).all())


async def get_settings(*, session: AsyncSession, user_id: int) -> UserSettings:
    """Return the user's settings, creating defaults for a user stored without them."""
    await require_user(session=session, user_id=user_id)
    settings = await session.get(UserSettings, user_id)
    if settings is None:
        settings = UserSettings(user_id=user_id)
        session.add(settings)
        await session.flush()
    return settings


async def set_personalization_weight(
    *, session: AsyncSession, user_id: int, weight: float
) -> UserSettings:
    """Store alpha, the personalization weight, which must lie in [0, 1]."""
    if not isinstance(weight, int | float) or not math.isfinite(weight) or not 0 <= weight <= 1:
        raise InvalidInputError(f"personalization weight must be between 0 and 1, got {weight!r}")
    settings = await get_settings(session=session, user_id=user_id)
    settings.personalization_weight = float(weight)
    await session.flush()
    return settings


async def set_learning_opt_in(
    *, session: AsyncSession, user_id: int, enabled: bool
) -> UserSettings:
    """Record whether the user's behaviour may be used to learn their preferences."""
    settings = await get_settings(session=session, user_id=user_id)
    settings.learning_opt_in = enabled
    await session.flush()
    return settings


def normalise_keyword(keyword: str) -> str:
    """Return the canonical form of a keyword or raise ``InvalidInputError``."""
    cleaned = " ".join(keyword.split()).casefold()
    if not cleaned:
        raise InvalidInputError("a keyword cannot be empty")
    if len(cleaned) > MAX_KEYWORD_CHARS:
        raise InvalidInputError(f"a keyword has at most {MAX_KEYWORD_CHARS} characters")
    if not any(ch.isalnum() for ch in cleaned):
        raise InvalidInputError(f"keyword {keyword!r} has no letters or digits")
    return cleaned


async def set_keyword_rule(
    *, session: AsyncSession, user_id: int, keyword: str, rule: str
) -> KeywordRule:
    """Pin or ban a keyword; a keyword has one rule at a time, the latest wins."""
    _check_choice("rule", rule, KEYWORD_RULES)
    await require_user(session=session, user_id=user_id)
    canonical = normalise_keyword(keyword)
    stmt = select(KeywordRule).where(
        KeywordRule.user_id == user_id, KeywordRule.keyword == canonical
    )
    existing = await session.scalar(stmt)
    if existing is None:
        existing = KeywordRule(user_id=user_id, keyword=canonical, rule=rule)
        session.add(existing)
    else:
        existing.rule = rule
        existing.created_at = utcnow()
    await session.flush()
    return existing


async def clear_keyword_rules(*, session: AsyncSession, user_id: int) -> int:
    """Remove every pin and ban of the user; return how many were removed."""
    rules = await list_keyword_rules(session=session, user_id=user_id)
    for rule in rules:
        await session.delete(rule)
    await session.flush()
    return len(rules)


async def list_keyword_rules(*, session: AsyncSession, user_id: int) -> list[KeywordRule]:
    """Return the user's pins and bans, oldest first."""
    stmt = (
        select(KeywordRule)
        .where(KeywordRule.user_id == user_id)
        .order_by(KeywordRule.created_at, KeywordRule.id)
    )
    return list((await session.scalars(stmt)).all())


# -- conversation history and behaviours --------------------------------------------------------


async def add_message(
    *,
    session: AsyncSession,
    user_id: int,
    role: str,
    content: str,
    channel_id: int | None = None,
    guild_id: int | None = None,
    discord_message_id: int | None = None,
) -> Message:
    """Store one turn of the conversation."""
    _check_choice("role", role, MESSAGE_ROLES)
    message = Message(
        user_id=user_id,
        role=role,
        content=content,
        channel_id=channel_id,
        guild_id=guild_id,
        discord_message_id=discord_message_id,
    )
    session.add(message)
    await session.flush()
    return message


async def recent_messages(*, session: AsyncSession, user_id: int, limit: int) -> list[Message]:
    """Return the newest ``limit`` turns, oldest first."""
    stmt = (
        select(Message).where(Message.user_id == user_id).order_by(Message.id.desc()).limit(limit)
    )
    return list(reversed((await session.scalars(stmt)).all()))


async def add_behaviour(
    *,
    session: AsyncSession,
    user_id: int,
    kind: str,
    text: str,
    data: dict[str, Any] | None = None,
    message_id: int | None = None,
    generation_id: int | None = None,
) -> Behaviour:
    """Record a typed behaviour event that a later profile update will read."""
    _check_choice("kind", kind, BEHAVIOUR_KINDS)
    behaviour = Behaviour(
        user_id=user_id,
        kind=kind,
        text=text,
        data=data or {},
        message_id=message_id,
        generation_id=generation_id,
    )
    session.add(behaviour)
    await session.flush()
    return behaviour


async def behaviours_after(
    *, session: AsyncSession, user_id: int, after_id: int | None, limit: int
) -> list[Behaviour]:
    """Return the newest ``limit`` behaviours with id above ``after_id``, oldest first.

    Bounded on purpose: a profile update reads what is new, not the whole history (issue 3).
    """
    stmt = select(Behaviour).where(Behaviour.user_id == user_id)
    if after_id is not None:
        stmt = stmt.where(Behaviour.id > after_id)
    stmt = stmt.order_by(Behaviour.id.desc()).limit(limit)
    return list(reversed((await session.scalars(stmt)).all()))


async def latest_behaviour_id(*, session: AsyncSession, user_id: int) -> int | None:
    """Return the id of the user's newest behaviour, or ``None``."""
    stmt = select(func.max(Behaviour.id)).where(Behaviour.user_id == user_id)
    return await session.scalar(stmt)


# -- preference profiles ------------------------------------------------------------------------


def embedding_to_bytes(embedding: NDArray[np.floating[Any]]) -> tuple[bytes, int]:
    """Serialise ``[num_tokens, dim]`` (or ``[dim]``) as little-endian float32 and its dim."""
    array = np.asarray(embedding, dtype="<f4")
    if array.ndim not in (1, 2) or array.size == 0:
        raise InvalidInputError(
            f"embedding must be a non-empty 1-D or 2-D array, got {array.shape}"
        )
    if not np.isfinite(array).all():
        raise InvalidInputError("embedding contains NaN or infinite values")
    return array.tobytes(), int(array.shape[-1])


def embedding_from_bytes(data: bytes, dim: int) -> NDArray[np.float32]:
    """Return the stored embedding as a ``[num_tokens, dim]`` float32 array."""
    array = np.frombuffer(data, dtype="<f4").astype(np.float32)
    if dim <= 0 or array.size % dim:
        raise ValueError(f"stored embedding of {array.size} floats is not a multiple of dim {dim}")
    return array.reshape(-1, dim)


async def save_profile(
    *,
    session: AsyncSession,
    user_id: int,
    keywords: Sequence[str],
    last_behaviour_id: int | None,
    embedding: NDArray[np.floating[Any]] | None = None,
    embedding_model: str | None = None,
    llm_model: str | None = None,
) -> PreferenceProfile:
    """Append a new profile version; earlier versions stay as history."""
    await require_user(session=session, user_id=user_id)
    current = await session.scalar(
        select(func.max(PreferenceProfile.version)).where(PreferenceProfile.user_id == user_id)
    )
    blob, dim = embedding_to_bytes(embedding) if embedding is not None else (None, None)
    profile = PreferenceProfile(
        user_id=user_id,
        version=(current or 0) + 1,
        keywords=list(keywords),
        embedding=blob,
        embedding_dim=dim,
        embedding_model=embedding_model if embedding is not None else None,
        llm_model=llm_model,
        last_behaviour_id=last_behaviour_id,
    )
    session.add(profile)
    await session.flush()
    return profile


async def latest_profile(*, session: AsyncSession, user_id: int) -> PreferenceProfile | None:
    """Return the newest profile version, or ``None`` before the first update."""
    stmt = (
        select(PreferenceProfile)
        .where(PreferenceProfile.user_id == user_id)
        .order_by(PreferenceProfile.version.desc())
        .limit(1)
    )
    return await session.scalar(stmt)


async def profile_history(*, session: AsyncSession, user_id: int) -> list[PreferenceProfile]:
    """Return every profile version of the user, oldest first."""
    stmt = (
        select(PreferenceProfile)
        .where(PreferenceProfile.user_id == user_id)
        .order_by(PreferenceProfile.version)
    )
    return list((await session.scalars(stmt)).all())


# -- generations and feedback -------------------------------------------------------------------


async def create_generation(
    *,
    session: AsyncSession,
    job_key: str,
    user_id: int,
    prompt: str,
    personalization_weight: float,
    seed: int,
    kind: str = "sticker",
    channel_id: int | None = None,
    guild_id: int | None = None,
    parent_id: int | None = None,
) -> tuple[Generation, bool]:
    """Create a queued generation, or return the existing one with the same ``job_key``.

    Returns ``(generation, created)``; a double submit never makes two rows (issue 5).
    """
    _check_choice("kind", kind, GENERATION_KINDS)
    if not job_key or len(job_key) > 100:
        raise InvalidInputError(f"job_key must have 1 to 100 characters, got {job_key!r}")
    existing = await session.scalar(select(Generation).where(Generation.job_key == job_key))
    if existing is not None:
        return existing, False
    generation = Generation(
        job_key=job_key,
        user_id=user_id,
        prompt=prompt,
        personalization_weight=personalization_weight,
        seed=seed,
        kind=kind,
        channel_id=channel_id,
        guild_id=guild_id,
        parent_id=parent_id,
    )
    try:
        # A savepoint: a concurrent submit of the same key loses the race without failing.
        async with session.begin_nested():
            session.add(generation)
            await session.flush()
    except IntegrityError:
        existing = await session.scalar(select(Generation).where(Generation.job_key == job_key))
        if existing is None:
            raise
        return existing, False
    return generation, True


async def get_generation(*, session: AsyncSession, generation_id: int) -> Generation:
    """Return the generation or raise ``NotFoundError``."""
    generation = await session.get(Generation, generation_id)
    if generation is None:
        raise NotFoundError(f"no generation with id {generation_id} is stored")
    return generation


async def record_feedback(
    *, session: AsyncSession, user_id: int, generation_id: int, liked: bool
) -> Feedback:
    """Store a 👍 / 👎; voting again replaces the earlier vote."""
    await get_generation(session=session, generation_id=generation_id)
    stmt = select(Feedback).where(
        Feedback.user_id == user_id, Feedback.generation_id == generation_id
    )
    feedback = await session.scalar(stmt)
    if feedback is None:
        feedback = Feedback(user_id=user_id, generation_id=generation_id, liked=liked)
        session.add(feedback)
    else:
        feedback.liked = liked
        feedback.created_at = utcnow()
    await session.flush()
    return feedback


# -- channels -------------------------------------------------------------------------------------


async def set_channel_chat(
    *,
    session: AsyncSession,
    channel_id: int,
    guild_id: int | None,
    enabled: bool,
    updated_by: int | None = None,
) -> ChannelSettings:
    """Enable or disable chat replies in a channel."""
    row = await session.get(ChannelSettings, channel_id)
    if row is None:
        row = ChannelSettings(channel_id=channel_id, guild_id=guild_id)
        session.add(row)
    row.chat_enabled = enabled
    row.updated_by = updated_by
    row.updated_at = utcnow()
    await session.flush()
    return row


async def chat_enabled_channels(*, session: AsyncSession, guild_id: int | None = None) -> set[int]:
    """Return the ids of channels with chat enabled (in one guild, or everywhere)."""
    stmt = select(ChannelSettings.channel_id).where(ChannelSettings.chat_enabled.is_(True))
    if guild_id is not None:
        stmt = stmt.where(ChannelSettings.guild_id == guild_id)
    return set((await session.scalars(stmt)).all())


async def generations_since(*, session: AsyncSession, user_id: int, since: datetime) -> int:
    """Count the user's generations created since ``since`` (for the daily quota)."""
    stmt = (
        select(func.count())
        .select_from(Generation)
        .where(Generation.user_id == user_id, Generation.created_at >= since)
    )
    return int(await session.scalar(stmt) or 0)
