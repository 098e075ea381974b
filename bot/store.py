"""What the bot reads and writes beside the engine service: users, the privacy notice, quotas,
and the channels where chat is enabled.

Small keyword-only functions over the engine's repositories; the chat-channel store is in memory
until the schema has a table for it (see ``ChatChannels``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pmg_engine.db import repo
from pmg_engine.db.models import ChannelSettings, Generation, UserSettings

Sessions = async_sessionmaker[AsyncSession]
OPEN_STATUSES = ("queued", "running")


async def ensure_user(
    sessions: Sessions, *, user_id: int, name: str, learning_opt_in: bool
) -> None:
    """Create the user with default settings, or refresh their name."""
    async with sessions() as session, session.begin():
        await repo.upsert_user(
            session=session, user_id=user_id, name=name, learning_opt_in=learning_opt_in
        )


async def is_stored(sessions: Sessions, *, user_id: int) -> bool:
    """Return whether any row about the user exists."""
    async with sessions() as session:
        return await repo.get_user(session=session, user_id=user_id) is not None


async def user_settings(sessions: Sessions, *, user_id: int) -> UserSettings:
    """Return the stored user's settings (``NotFoundError`` for an unknown user)."""
    async with sessions() as session, session.begin():
        return await repo.get_settings(session=session, user_id=user_id)


async def shows_taste(sessions: Sessions, *, user_id: int, in_dm: bool) -> bool:
    """Whether a picture may show the user's preference keywords where it is posted.

    In a DM only the owner reads it; elsewhere only when they turned sharing on.
    """
    if in_dm:
        return True
    async with sessions() as session:
        settings = await session.get(UserSettings, user_id)
        return settings is not None and settings.share_keywords


async def take_notice(sessions: Sessions, *, user_id: int) -> bool:
    """Return True exactly once per stored user: the first time the privacy notice is due."""
    async with sessions() as session, session.begin():
        settings = await session.get(UserSettings, user_id)
        if settings is None or settings.notice_shown:
            return False
        settings.notice_shown = True
        return True


async def generations_today(sessions: Sessions, *, user_id: int) -> int:
    """Count the user's generations since 00:00 UTC (the daily quota's window)."""
    midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    async with sessions() as session:
        return await repo.generations_since(session=session, user_id=user_id, since=midnight)


async def open_generations(sessions: Sessions, *, user_id: int) -> list[int]:
    """Return the ids of the user's queued or running generations."""
    stmt = select(Generation.id).where(
        Generation.user_id == user_id, Generation.status.in_(OPEN_STATUSES)
    )
    async with sessions() as session:
        return list((await session.scalars(stmt)).all())


async def get_generation(sessions: Sessions, *, generation_id: int) -> Generation:
    """Return the generation row or raise ``NotFoundError``."""
    async with sessions() as session:
        return await repo.get_generation(session=session, generation_id=generation_id)


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
    """``ChatChannels`` in the ``channel_settings`` table, so they survive restarts."""

    def __init__(self, sessions: Sessions) -> None:
        self.sessions = sessions

    async def is_enabled(self, channel_id: int) -> bool:
        """Return whether chat is enabled in the channel."""
        async with self.sessions() as session:
            row = await session.get(ChannelSettings, channel_id)
            return row is not None and row.chat_enabled

    async def enable(self, *, guild_id: int, channel_id: int, by_user_id: int) -> bool:
        """Enable chat in the channel; return False when it already was."""
        if await self.is_enabled(channel_id):
            return False
        async with self.sessions() as session, session.begin():
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
        if not await self.is_enabled(channel_id):
            return False
        async with self.sessions() as session, session.begin():
            await repo.set_channel_chat(
                session=session, channel_id=channel_id, guild_id=None, enabled=False
            )
        return True

    async def count(self) -> int:
        """Return how many channels have chat enabled."""
        async with self.sessions() as session:
            return len(await repo.chat_enabled_channels(session=session))
