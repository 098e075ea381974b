"""``/sticker`` and ``/image``, and what the buttons under a result do."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot import options
from bot.errors import Refused
from bot.exts.generate._buttons import COG_NAME, result_view
from bot.exts.generate._compare import compare
from bot.exts.generate._jobs import JobRunner
from bot.render import notice
from pmg_engine.errors import NotFoundError
from pmg_engine.service import GenerationRequest, GenerationView, Kind

if TYPE_CHECKING:
    from bot.app import PMGBot

PROMPT = "What to draw, in a few words"
WEIGHT = "How much your taste counts, 0 to 1 (default: your /prefs weight)"
GONE = "This picture is no longer stored (it may have been erased)."
NOT_YOURS = "Only the person who asked for this picture can delete it."
NOT_YOUR_OFFER = "This offer is for someone else; chat with me to get your own."


class Generate(commands.Cog, name=COG_NAME):
    """Personalized stickers and images on request."""

    def __init__(self, bot: PMGBot) -> None:
        self.bot = bot
        self.deps = bot.deps
        self.runner = JobRunner(bot, result_view=result_view)

    async def cog_load(self) -> None:
        """Resume pending jobs and deliver what an earlier process still owes (DESIGN.md 4)."""
        await self.runner.deliver_owed()

    @app_commands.command(name="sticker", description="Draw a sticker personalized to your taste.")
    @app_commands.describe(prompt=PROMPT, weight=WEIGHT)
    async def sticker(
        self,
        interaction: discord.Interaction,
        prompt: app_commands.Range[str, 1, 2000],
        weight: app_commands.Range[float, 0.0, 1.0] | None = None,
    ) -> None:
        """Draw a transparent 320 px sticker."""
        await self._draw(interaction, prompt, weight, kind=Kind.STICKER)

    @app_commands.command(name="image", description="Draw a full-size image personalized to you.")
    @app_commands.describe(prompt=PROMPT, weight=WEIGHT)
    async def image(
        self,
        interaction: discord.Interaction,
        prompt: app_commands.Range[str, 1, 2000],
        weight: app_commands.Range[float, 0.0, 1.0] | None = None,
    ) -> None:
        """Draw a full-size image."""
        await self._draw(interaction, prompt, weight, kind=Kind.IMAGE)

    async def _draw(
        self, interaction: discord.Interaction, prompt: object, weight: object, *, kind: Kind
    ) -> None:
        limit = self.deps.settings.max_prompt_chars
        request = GenerationRequest(
            user_id=interaction.user.id,
            user_name=interaction.user.name,
            prompt=options.text(prompt, name="prompt", max_chars=limit),
            kind=kind,
            personalization_weight=options.optional_weight(weight),
            job_key=f"discord-{interaction.id}",
            channel_id=interaction.channel_id,
            guild_id=interaction.guild_id,
        )
        await self.runner.request(interaction, request)

    # -- buttons ---------------------------------------------------------------------------------

    async def on_result_button(
        self, interaction: discord.Interaction, action: str, generation_id: int
    ) -> None:
        """Run 🔁 👍 👎 ⚖ or 🗑 for the result ``generation_id``."""
        try:
            parent = await self.deps.service.users.generation(generation_id=generation_id)
        except NotFoundError:
            raise Refused(GONE) from None
        if action in ("like", "dislike"):
            await self._feedback(interaction, parent, liked=action == "like")
        elif action == "reroll":
            await self.runner.request(interaction, self._reroll(interaction, parent))
        elif action == "compare":
            await compare(self.runner, interaction, parent)
        elif action == "delete":
            if parent.user_id != interaction.user.id:
                raise Refused(NOT_YOURS)
            await interaction.response.defer()
            await interaction.delete_original_response()

    async def on_mood_button(self, interaction: discord.Interaction, user_id: int) -> None:
        """Draw a sticker that answers the conversation (no prompt: the mood is the target)."""
        if interaction.user.id != user_id:
            raise Refused(NOT_YOUR_OFFER)
        request = GenerationRequest(
            user_id=user_id,
            user_name=interaction.user.name,
            prompt=None,
            kind=Kind.STICKER,
            job_key=f"discord-{interaction.id}",
            channel_id=interaction.channel_id,
            guild_id=interaction.guild_id,
        )
        await self.runner.request(interaction, request)

    def _reroll(
        self, interaction: discord.Interaction, parent: GenerationView
    ) -> GenerationRequest:
        return GenerationRequest(
            user_id=interaction.user.id,
            user_name=interaction.user.name,
            prompt=parent.prompt or None,
            kind=Kind(parent.kind),
            parent_id=parent.generation_id,
            job_key=f"discord-{interaction.id}",
            channel_id=interaction.channel_id,
            guild_id=interaction.guild_id,
        )

    async def _feedback(
        self, interaction: discord.Interaction, parent: GenerationView, *, liked: bool
    ) -> None:
        service, user = self.deps.service, interaction.user
        learning = (await service.users.ensure(user_id=user.id, name=user.name)).learning_opt_in
        await service.record_feedback(
            user_id=user.id, generation_id=parent.generation_id, liked=liked
        )
        text = (
            "👍 Thanks! I'll lean towards pictures like this one."
            if liked
            else "👎 Noted: I'll steer away from pictures like this one."
        )
        if not learning:
            text += " Learning is off for you, so your profile stays as it is."
        if await service.users.take_notice(user_id=user.id):
            text += "\n\n" + notice(learning=learning)
        await interaction.response.send_message(text, ephemeral=True)
