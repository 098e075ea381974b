"""``/prefs``: see, tune, export and erase what the bot learned about you."""

from __future__ import annotations

import io
import re
from typing import TYPE_CHECKING, Any, Literal

import discord
from discord import app_commands, ui
from discord.ext import commands

from bot import options
from bot.app import bot_of
from bot.errors import Refused, guarded
from bot.render import report_embed
from pmg_engine.errors import NotFoundError
from pmg_engine.service import MAX_KEYWORD_CHARS, KeywordRuleKind

if TYPE_CHECKING:
    from bot.app import PMGBot

COG_NAME = "Prefs"
NOTHING_STORED = "Nothing is stored about you."
KEYWORD = "A word or short phrase, e.g. pastel colours"


class ForgetButton(
    ui.DynamicItem[ui.Button[ui.View]],
    template=r"pmg:forget:(?P<choice>yes|no):(?P<id>[0-9]{1,19})",
):
    """The confirmation under ``/prefs forget``."""

    def __init__(self, choice: str, user_id: int) -> None:
        yes = choice == "yes"
        super().__init__(
            ui.Button(
                style=discord.ButtonStyle.danger if yes else discord.ButtonStyle.secondary,
                label="Erase everything" if yes else "Keep my data",
                custom_id=f"pmg:forget:{'yes' if yes else 'no'}:{user_id}",
            )
        )
        self.confirmed = yes
        self.user_id = user_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: ui.Item[Any], match: re.Match[str], /
    ) -> ForgetButton:
        """Rebuild the button from its ``custom_id``."""
        return cls(match["choice"], int(match["id"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        """Erase (or keep) the presser's data, through the single error path."""
        cog = bot_of(interaction).get_cog(COG_NAME)
        if not isinstance(cog, Prefs):
            raise RuntimeError("the prefs extension is not loaded")
        await guarded(interaction, lambda: cog.confirm_forget(interaction, self))


class Prefs(commands.GroupCog, name=COG_NAME, group_name="prefs"):
    """Your preferences: keywords, pins, bans, weight, learning, export and erasure."""

    def __init__(self, bot: PMGBot) -> None:
        self.bot = bot
        self.deps = bot.deps
        self.users = bot.deps.service.users

    @app_commands.command(name="show", description="Show what I learned about you.")
    async def show(self, interaction: discord.Interaction) -> None:
        """Show keywords, pins, bans, weight and the last profile update."""
        user_id = interaction.user.id
        if not await self.users.is_stored(user_id=user_id):
            raise Refused(NOTHING_STORED)
        await interaction.response.defer(ephemeral=True, thinking=True)
        taste = await self.deps.service.taste(user_id=user_id)
        embed = report_embed(taste.report)
        embed.add_field(name="Your look", value=taste.look or "not known yet", inline=False)
        await interaction.followup.send(embed=embed, ephemeral=True)

    @app_commands.command(name="weight", description="How much your taste counts (0 to 1).")
    @app_commands.describe(value="0 ignores your taste, 1 is all about it")
    async def weight(
        self, interaction: discord.Interaction, value: app_commands.Range[float, 0.0, 1.0]
    ) -> None:
        """Store the personalization weight."""
        user = interaction.user
        prefs = await self.users.set_weight(
            user_id=user.id, name=user.name, weight=options.weight(value)
        )
        await interaction.response.send_message(
            f"Your taste now counts {prefs.personalization_weight:.2f} "
            "(0 ignores it, 1 is all about it).",
            ephemeral=True,
        )

    @app_commands.command(name="pin", description="Always use a keyword in your pictures.")
    @app_commands.describe(keyword=KEYWORD)
    async def pin(self, interaction: discord.Interaction, keyword: str) -> None:
        """Pin a keyword."""
        await self._rule(interaction, keyword, rule="pin")

    @app_commands.command(name="ban", description="Never use a keyword in your pictures.")
    @app_commands.describe(keyword=KEYWORD)
    async def ban(self, interaction: discord.Interaction, keyword: str) -> None:
        """Ban a keyword."""
        await self._rule(interaction, keyword, rule="ban")

    async def _rule(
        self, interaction: discord.Interaction, keyword: object, *, rule: KeywordRuleKind
    ) -> None:
        text = options.text(keyword, name="keyword", max_chars=MAX_KEYWORD_CHARS)
        user = interaction.user
        stored = await self.users.set_keyword_rule(
            user_id=user.id, name=user.name, keyword=text, rule=rule
        )
        what = "goes into every picture" if rule == "pin" else "never goes into a picture"
        await interaction.response.send_message(
            f"{'Pinned' if rule == 'pin' else 'Banned'} “{stored.keyword}”: it {what}.",
            ephemeral=True,
        )

    @app_commands.command(name="reset", description="Clear your pins and bans, reset the weight.")
    async def reset(self, interaction: discord.Interaction) -> None:
        """Reset the weight and remove every pin and ban (what was learned stays)."""
        user = interaction.user
        done = await self.users.reset(user_id=user.id, name=user.name)
        await interaction.response.send_message(
            f"Reset: weight back to {done.personalization_weight:.2f}, "
            f"{done.rules_removed} pins and bans removed. "
            "What I learned stays; `/prefs forget` erases it.",
            ephemeral=True,
        )

    @app_commands.command(name="learning", description="Let me learn from you, or stop it.")
    @app_commands.describe(state="on: learn your taste from our chats; off: only answer")
    async def learning(self, interaction: discord.Interaction, state: Literal["on", "off"]) -> None:
        """Turn learning on or off."""
        user = interaction.user
        prefs = await self.users.set_learning(
            user_id=user.id, name=user.name, enabled=options.on_off(state)
        )
        text = (
            "Learning is on: I'll learn your taste from our chats and your 👍/👎."
            if prefs.learning_opt_in
            else "Learning is off: I'll still answer, but I won't learn from you."
        )
        await interaction.response.send_message(text, ephemeral=True)

    @app_commands.command(name="sharing", description="Show your taste under public pictures.")
    @app_commands.describe(state="on: public pictures list your taste; off: only you see it")
    async def sharing(self, interaction: discord.Interaction, state: Literal["on", "off"]) -> None:
        """Turn the sharing of preference keywords on public pictures on or off."""
        user = interaction.user
        prefs = await self.users.set_sharing(
            user_id=user.id, name=user.name, enabled=options.on_off(state)
        )
        text = (
            "Sharing is on: your pictures in servers list the taste they used, which I learned "
            "from all our chats, DMs included."
            if prefs.share_keywords
            else "Sharing is off: pictures in servers show your request alone; only you see "
            "the taste they used."
        )
        await interaction.response.send_message(text, ephemeral=True)

    @app_commands.command(name="export", description="Get a copy of everything stored about you.")
    async def export(self, interaction: discord.Interaction) -> None:
        """Send every stored row and picture about the user as a zip file, ephemerally."""
        user_id = interaction.user.id
        if not await self.users.is_stored(user_id=user_id):
            raise Refused(NOTHING_STORED)
        await interaction.response.defer(ephemeral=True, thinking=True)
        export = await self.users.export_archive(user_id=user_id)
        file = discord.File(io.BytesIO(export.archive), filename=export.filename)
        await interaction.followup.send(
            "Here is everything I store about you: export.json and your pictures.",
            file=file,
            ephemeral=True,
        )

    @app_commands.command(name="forget", description="Erase everything stored about you.")
    async def forget(self, interaction: discord.Interaction) -> None:
        """Ask for confirmation before erasing."""
        user_id = interaction.user.id
        if not await self.users.is_stored(user_id=user_id):
            raise Refused(NOTHING_STORED)
        view = ui.View(timeout=None)
        view.add_item(ForgetButton("yes", user_id))
        view.add_item(ForgetButton("no", user_id))
        await interaction.response.send_message(
            "This erases our messages, what I learned, your settings and your pictures. Sure?",
            view=view,
            ephemeral=True,
        )

    async def confirm_forget(self, interaction: discord.Interaction, button: ForgetButton) -> None:
        """Erase every row about the presser, and their files, once they confirmed."""
        user_id = interaction.user.id
        if button.user_id != user_id:
            raise Refused("Only the person who asked can confirm this.")
        if not button.confirmed:
            await interaction.response.edit_message(content="Kept: nothing was erased.", view=None)
            return
        # Cancelling a running job waits for its next step: acknowledge first (3 s rule).
        await interaction.response.defer()
        try:
            summary = await self.users.forget(user_id=user_id, cancel=self.deps.queue.cancel)
        except NotFoundError:
            raise Refused(NOTHING_STORED) from None
        self.deps.limiter.forget(user_id)
        await interaction.edit_original_response(
            content=f"Done: I {summary.sentence()} about you.", view=None
        )


async def setup(bot: PMGBot) -> None:
    """Load the prefs cog and register its confirmation buttons."""
    bot.add_dynamic_items(ForgetButton)
    await bot.add_cog(Prefs(bot))
