"""Chat: answer in DMs, when mentioned, and in channels an admin enabled; remember both sides."""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any

import discord
from discord.ext import commands

from bot.errors import sentence
from bot.exts.generate import mood_view
from bot.render import notice
from pmg_engine.errors import PMGError
from pmg_engine.keywords import mood_of
from pmg_engine.text import clean_text, cut_note

if TYPE_CHECKING:
    from bot.app import PMGBot

log = logging.getLogger(__name__)
GREETING = "Hi! Talk to me about what you like, or ask `/sticker` for a picture."
MAX_MESSAGE_CHARS = 2000


class Chat(commands.Cog):
    """The conversation that PMG learns preferences from."""

    def __init__(self, bot: PMGBot) -> None:
        self.bot = bot
        self.deps = bot.deps

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        """Answer a message addressed to the bot, storing both sides."""
        if message.author.bot or message.webhook_id is not None:
            return
        if not await self._addressed(message):
            return
        text = self._without_mention(clean_text(message.content))
        if not text:
            await message.reply(GREETING, mention_author=False)
            return
        try:
            async with message.channel.typing():
                turn = await self.deps.service.converse(
                    self.deps.replier,
                    user_id=message.author.id,
                    user_name=message.author.name,
                    content=text,
                    channel_id=message.channel.id,
                    guild_id=message.guild.id if message.guild else None,
                    discord_message_id=message.id,
                )
        except PMGError as error:
            await message.reply(sentence(str(error)), mention_author=False)
            return
        content = turn.reply
        if turn.cut_to is not None:
            content += f"\n\n✂️ {cut_note(turn.cut_to)}"
        if await self.deps.service.users.take_notice(user_id=message.author.id):
            content += "\n\n" + notice(learning=turn.learned)
        kwargs: dict[str, Any] = {}
        if mood_of(text) is not None and self.deps.can_draw:
            kwargs["view"] = mood_view(message.author.id)
        await message.reply(content[:MAX_MESSAGE_CHARS], mention_author=False, **kwargs)

    async def _addressed(self, message: discord.Message) -> bool:
        if message.guild is None:
            return True
        me = self.bot.user
        if me is not None and any(user.id == me.id for user in message.mentions):
            return True
        return await self.deps.channels.is_enabled(message.channel.id)

    def _without_mention(self, content: str) -> str:
        me = self.bot.user
        if me is not None:
            content = re.sub(rf"<@!?{me.id}>", " ", content)
        return " ".join(content.split())


async def setup(bot: PMGBot) -> None:
    """Load the chat cog."""
    await bot.add_cog(Chat(bot))
