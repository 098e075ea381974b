"""The bot object: discord.py client, its dependencies, its extensions and background tasks."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import discord
from discord.ext import commands

from bot.errors import PMGCommandTree
from bot.gateway import guard_parsers
from bot.limits import Limits, RequestLimiter
from bot.safety import Blocklist, KeywordSafety, OutputSafety
from pmg_engine.errors import PMGError
from pmg_engine.service import ChatChannels, SQLChatChannels

if TYPE_CHECKING:
    from config import Settings
    from config.settings import DiscordSettings
    from pmg_engine.chat import ChatReplier
    from pmg_engine.queue import JobQueue
    from pmg_engine.service import PMGService

log = logging.getLogger(__name__)

EXTENSIONS = ("bot.exts.chat", "bot.exts.generate", "bot.exts.prefs", "bot.exts.admin")


@dataclass
class BotDeps:
    """Everything the cogs use, built once by the composition root and passed in."""

    settings: DiscordSettings
    service: PMGService
    queue: JobQueue
    replier: ChatReplier
    channels: ChatChannels
    limiter: RequestLimiter
    blocklist: Blocklist
    safety: OutputSafety
    job_timeout_s: float = 600.0
    # False where this process has no generator (e.g. Celery workers draw instead).
    can_draw: bool = True

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        service: PMGService,
        queue: JobQueue,
        replier: ChatReplier,
        can_draw: bool = True,
    ) -> BotDeps:
        """Build the dependencies the settings describe."""
        discord_settings = settings.discord
        blocklist = Blocklist(discord_settings.prompt_blocklist)
        limits = Limits(
            max_concurrent_jobs=discord_settings.max_concurrent_jobs,
            cooldown_s=discord_settings.cooldown_s,
            daily_quota=discord_settings.daily_quota,
        )
        return cls(
            settings=discord_settings,
            service=service,
            queue=queue,
            replier=replier,
            channels=SQLChatChannels(service.sessions),
            limiter=RequestLimiter(limits),
            blocklist=blocklist,
            safety=KeywordSafety(blocklist, action=discord_settings.output_safety),
            job_timeout_s=settings.queue.job_timeout_s,
            can_draw=can_draw,
        )


class CommandSyncFailed(PMGError):
    """Discord refused to sync the slash commands; the message says why in one sentence."""


def sync_failure(exc: discord.HTTPException, guild_id: int | None) -> str:
    """Return the sentence for a failed command sync, with Discord's status and reason."""
    reason = f"{exc.status} {exc.text or type(exc).__name__}".strip()
    where = f"server {guild_id}" if guild_id is not None else "all servers"
    if exc.status == 403:
        hint = (
            f"invite the bot to {where} with the applications.commands scope"
            if guild_id is not None
            else "check the bot's application in the developer portal"
        )
    elif exc.status == 429:
        hint = "Discord limits syncs per day; try again later without --sync meanwhile"
    else:
        hint = "run the bot without --sync and try again later"
    return f"Discord refused to sync the slash commands for {where} ({reason}): {hint}"


class PMGBot(commands.Bot):
    """The Discord adapter over the PMG service: chat, generation, preferences, admin."""

    def __init__(self, deps: BotDeps, *, sync_commands: bool = False) -> None:
        intents = discord.Intents.default()
        intents.message_content = True  # privileged: enable it in the developer portal
        super().__init__(
            command_prefix=commands.when_mentioned,
            help_command=None,
            intents=intents,
            tree_cls=PMGCommandTree,
            owner_ids=set(deps.settings.owner_ids),
            allowed_mentions=discord.AllowedMentions(
                everyone=False, roles=False, users=True, replied_user=False
            ),
        )
        self.deps = deps
        self.sync_commands = sync_commands
        self._background: set[asyncio.Task[None]] = set()
        guard_parsers(self._connection)

    async def setup_hook(self) -> None:
        """Load the extensions (which resume pending jobs); sync commands only when asked."""
        for extension in EXTENSIONS:
            await self.load_extension(extension)
        if self.sync_commands:
            try:
                count = await self.sync_app_commands()
            except discord.HTTPException as exc:
                raise CommandSyncFailed(sync_failure(exc, self.deps.settings.dev_guild_id)) from exc
            log.info("synced %d application commands", count)

    async def sync_app_commands(self) -> int:
        """Sync the slash commands with Discord (rate-limited daily: never on every start)."""
        guild_id = self.deps.settings.dev_guild_id
        if guild_id is None:
            return len(await self.tree.sync())
        guild = discord.Object(id=guild_id)
        self.tree.copy_global_to(guild=guild)
        return len(await self.tree.sync(guild=guild))

    async def on_message(self, message: discord.Message, /) -> None:
        """Ignore prefix commands: the chat extension listens to messages instead."""

    def spawn(self, coro: Coroutine[Any, Any, None], *, name: str) -> asyncio.Task[None]:
        """Run ``coro`` in the background, keep a reference, and log its failure."""
        task = asyncio.create_task(coro, name=name)
        self._background.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background task %s failed", task.get_name(), exc_info=task.exception())

    async def wait_background(self) -> None:
        """Wait until no background task is left (deliveries resumed after a restart)."""
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)

    async def close(self) -> None:
        """Cancel background deliveries (the jobs themselves stay recorded), then disconnect."""
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*list(self._background), return_exceptions=True)
        await super().close()


def bot_of(interaction: discord.Interaction) -> PMGBot:
    """Return the bot behind an interaction (component callbacks receive only the interaction)."""
    client = interaction.client
    if not isinstance(client, PMGBot):
        raise TypeError(f"expected a PMGBot, got {type(client).__name__}")
    return client
