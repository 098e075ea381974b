"""Users, their settings and their keyword rules."""

from __future__ import annotations

import math

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from pmg_engine.db.models import (
    KEYWORD_RULES,
    USER_SOURCES,
    KeywordRule,
    User,
    UserSettings,
)
from pmg_engine.db.repo._checks import check_choice, check_user_id
from pmg_engine.db.repo._rows import replace_or_add
from pmg_engine.db.types import utcnow
from pmg_engine.errors import InvalidInputError, NotFoundError
from pmg_engine.text import clean_text

MAX_KEYWORD_CHARS = 64


async def get_user(*, session: AsyncSession, user_id: int) -> User | None:
    """Return the user, or ``None``."""
    check_user_id(user_id)
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
    check_user_id(user_id)
    check_choice("source", source, USER_SOURCES)
    clean_name = " ".join(clean_text(name).split())[:100] or str(user_id)
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
    settings.personalization_weight = float(weight) + 0.0  # -0.0 is stored as 0.0
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


async def set_share_keywords(*, session: AsyncSession, user_id: int, enabled: bool) -> UserSettings:
    """Record whether the user's preference keywords may be shown on their public pictures."""
    settings = await get_settings(session=session, user_id=user_id)
    settings.share_keywords = enabled
    await session.flush()
    return settings


def normalise_keyword(keyword: str) -> str:
    """Return the canonical form of a keyword or raise ``InvalidInputError``."""
    cleaned = " ".join(clean_text(keyword).split()).casefold()
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
    check_choice("rule", rule, KEYWORD_RULES)
    await require_user(session=session, user_id=user_id)
    canonical = normalise_keyword(keyword)
    return await replace_or_add(
        session, KeywordRule, {"user_id": user_id, "keyword": canonical}, {"rule": rule}
    )


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
