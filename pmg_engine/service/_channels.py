"""The guild channels where the bot answers every message, stored so they survive restarts."""

from __future__ import annotations

from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pmg_engine.db import repo
from pmg_engine.db.models import ChannelSettings


class ChatChannels(Protocol):
    """The guild channels where the bot answers every message, not only mentions."""

    async def is_enabled(self, channel_id: int) -> bool:
        """Return whether chat is enabled in the channel."""
        ...

    async def enable(self, *, guild_id: int, channel_id: int, by_user_id: int) -> bool:
        """Enable chat in the channel; return False when it already was."""
        ...

    async def disable(self, *, channel_id: int) -> bool:
        """Disable chat in the channel; return False when it was not enabled."""
        ...

    async def count(self) -> int:
        """Return how many channels have chat enabled."""
        ...


class SQLChatChannels:
    """``ChatChannels`` in the ``channel_settings`` table."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    async def is_enabled(self, channel_id: int) -> bool:
        """Return whether chat is enabled in the channel."""
        async with self.sessions() as session:
            row = await session.get(ChannelSettings, channel_id)
            return row is not None and row.chat_enabled

    async def enable(self, *, guild_id: int, channel_id: int, by_user_id: int) -> bool:
        """Enable chat in the channel; return False when it already was."""
        async with self.sessions() as session, session.begin():
            row = await session.get(ChannelSettings, channel_id)
            if row is not None and row.chat_enabled:
                return False
            await repo.set_channel_chat(
                session=session,
                channel_id=channel_id,
                guild_id=guild_id,
                enabled=True,
                updated_by=by_user_id,
            )
        return True

    async def disable(self, *, channel_id: int) -> bool:
        """Disable chat in the channel; return False when it was not enabled."""
        async with self.sessions() as session, session.begin():
            row = await session.get(ChannelSettings, channel_id)
            if row is None or not row.chat_enabled:
                return False
            await repo.set_channel_chat(
                session=session, channel_id=channel_id, guild_id=None, enabled=False
            )
        return True

    async def count(self) -> int:
        """Return how many channels have chat enabled."""
        async with self.sessions() as session:
            return len(await repo.chat_enabled_channels(session=session))
