"""``/admin``: for server administrators and the bot owner: chat channels, members, stats."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.errors import NotAllowed, Refused
from bot.render import report_embed, stats_embed
from pmg_engine.errors import NotFoundError

if TYPE_CHECKING:
    from bot.app import PMGBot

ADMINS_ONLY = "Only server administrators and the bot owner can use /admin."
OWNER_ONLY = "Only the bot owner can sync commands."
CHANNEL = "The channel (default: this one)"
ChannelOption = discord.TextChannel | discord.Thread | discord.VoiceChannel | None


@app_commands.guild_only()
@app_commands.default_permissions(administrator=True)
class Admin(commands.GroupCog, name="Admin", group_name="admin"):
    """Administration of the bot in a server."""

    def __init__(self, bot: PMGBot) -> None:
        self.bot = bot
        self.deps = bot.deps

    async def interaction_check(self, interaction: discord.Interaction, /) -> bool:
        """Let administrators and the bot owner through; default_permissions is only a hint."""
        if interaction.guild_id is None:  # guild_only hides the group; discord.py doesn't check
            raise app_commands.NoPrivateMessage
        if interaction.permissions.administrator or await self.bot.is_owner(interaction.user):
            return True
        raise NotAllowed(ADMINS_ONLY)

    @app_commands.command(name="chat-enable", description="Answer every message in a channel.")
    @app_commands.describe(channel=CHANNEL)
    async def chat_enable(
        self, interaction: discord.Interaction, channel: ChannelOption = None
    ) -> None:
        """Enable chat in a channel (elsewhere the bot answers only mentions)."""
        channel_id = channel.id if channel is not None else interaction.channel_id
        if channel_id is None or interaction.guild_id is None:
            raise Refused("Choose a channel of this server.")
        changed = await self.deps.channels.enable(
            guild_id=interaction.guild_id, channel_id=channel_id, by_user_id=interaction.user.id
        )
        text = "I'll now answer every message in" if changed else "Chat was already on in"
        await interaction.response.send_message(f"{text} <#{channel_id}>.", ephemeral=True)

    @app_commands.command(name="chat-disable", description="Answer only mentions in a channel.")
    @app_commands.describe(channel=CHANNEL)
    async def chat_disable(
        self, interaction: discord.Interaction, channel: ChannelOption = None
    ) -> None:
        """Disable chat in a channel."""
        channel_id = channel.id if channel is not None else interaction.channel_id
        if channel_id is None:
            raise Refused("Choose a channel of this server.")
        changed = await self.deps.channels.disable(channel_id=channel_id)
        text = "I'll only answer mentions in" if changed else "Chat was not on in"
        await interaction.response.send_message(f"{text} <#{channel_id}>.", ephemeral=True)

    @app_commands.command(name="show", description="Show a member's stored preferences.")
    @app_commands.describe(member="The member")
    async def show(self, interaction: discord.Interaction, member: discord.Member) -> None:
        """Show what is stored about a member (the same view as ``pmg-admin show``)."""
        try:
            report = await self.deps.service.users.report(user_id=member.id)
        except NotFoundError:
            raise Refused(f"Nothing is stored about {member.display_name}.") from None
        await interaction.response.send_message(embed=report_embed(report), ephemeral=True)

    @app_commands.command(name="stats", description="Show the bot's stats.")
    async def stats(self, interaction: discord.Interaction) -> None:
        """Show row counts, generations per status, servers and chat channels."""
        data = await self.deps.service.users.stats()
        embed = stats_embed(
            data, guilds=len(self.bot.guilds), chat_channels=await self.deps.channels.count()
        )
        await interaction.response.send_message(embed=embed, ephemeral=True)

    @app_commands.command(name="sync", description="Sync slash commands with Discord (owner).")
    async def sync(self, interaction: discord.Interaction) -> None:
        """Sync the command tree: explicit, because Discord limits syncs per day."""
        if not await self.bot.is_owner(interaction.user):
            raise NotAllowed(OWNER_ONLY)
        await interaction.response.defer(ephemeral=True, thinking=True)
        count = await self.bot.sync_app_commands()
        await interaction.followup.send(f"Synced {count} commands.", ephemeral=True)


async def setup(bot: PMGBot) -> None:
    """Load the admin cog."""
    await bot.add_cog(Admin(bot))
