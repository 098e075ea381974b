"""Chat-enabled channels live in the database and survive a restart."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pmg_engine.service import SQLChatChannels


async def test_enabled_channels_survive_a_new_store(
    sqlite_sessions: async_sessionmaker[AsyncSession],
) -> None:
    """A channel enabled through one store is enabled for a fresh one (a restarted bot)."""
    first = SQLChatChannels(sqlite_sessions)
    assert await first.enable(guild_id=1, channel_id=10, by_user_id=7) is True
    assert await first.enable(guild_id=1, channel_id=10, by_user_id=7) is False
    restarted = SQLChatChannels(sqlite_sessions)
    assert await restarted.is_enabled(10) is True
    assert await restarted.count() == 1
    assert await restarted.disable(channel_id=10) is True
    assert await restarted.is_enabled(10) is False
    assert await restarted.disable(channel_id=10) is False
