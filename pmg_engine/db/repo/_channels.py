"""Channels where chat is enabled, and quota counts."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from pmg_engine.db.models import (
    ChannelSettings,
    Generation,
)
from pmg_engine.db.types import utcnow


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
