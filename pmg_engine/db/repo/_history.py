"""Conversation history and behaviour events."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from pmg_engine.db.models import (
    BEHAVIOUR_KINDS,
    MESSAGE_ROLES,
    Behaviour,
    Message,
)
from pmg_engine.db.repo._checks import check_choice


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
    check_choice("role", role, MESSAGE_ROLES)
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
    check_choice("kind", kind, BEHAVIOUR_KINDS)
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

    Bounded on purpose: a profile update reads what is new, not the whole history.
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
