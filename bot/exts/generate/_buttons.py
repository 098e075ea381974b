"""Buttons that keep working after a restart: the state lives in the ``custom_id``.

``pmg:<action>:<generation id>`` on every result, ``pmg:mood:<user id>`` on the chat's sticker
offer (DESIGN.md section 6: ``DynamicItem``).
"""

from __future__ import annotations

import re
from typing import Any, Protocol, runtime_checkable

import discord
from discord import ui

from bot.app import bot_of
from bot.errors import guarded

COG_NAME = "Generate"
RESULT_ACTIONS: dict[str, tuple[str, str | None, discord.ButtonStyle]] = {
    "reroll": ("🔁", "Reroll", discord.ButtonStyle.secondary),
    "like": ("👍", None, discord.ButtonStyle.secondary),
    "dislike": ("👎", None, discord.ButtonStyle.secondary),
    "compare": ("⚖️", "Compare", discord.ButtonStyle.secondary),
    "delete": ("🗑️", None, discord.ButtonStyle.danger),
}
ID = r"[0-9]{1,19}"


@runtime_checkable
class ButtonHandler(Protocol):
    """What the generate cog does when a button is pressed."""

    async def on_result_button(
        self, interaction: discord.Interaction, action: str, generation_id: int
    ) -> None: ...

    async def on_mood_button(self, interaction: discord.Interaction, user_id: int) -> None: ...


def _handler(interaction: discord.Interaction) -> ButtonHandler:
    cog = bot_of(interaction).get_cog(COG_NAME)
    if not isinstance(cog, ButtonHandler):
        raise RuntimeError("the generate extension is not loaded")
    return cog


class ResultButton(
    ui.DynamicItem[ui.Button[ui.View]],
    template=rf"pmg:(?P<action>{'|'.join(RESULT_ACTIONS)}):(?P<id>{ID})",
):
    """One of 🔁 👍 👎 ⚖ 🗑 under a result."""

    def __init__(self, action: str, generation_id: int) -> None:
        if action not in RESULT_ACTIONS:
            raise ValueError(f"action must be one of {', '.join(RESULT_ACTIONS)}, got {action!r}")
        emoji, label, style = RESULT_ACTIONS[action]
        super().__init__(
            ui.Button(
                style=style, emoji=emoji, label=label, custom_id=f"pmg:{action}:{generation_id}"
            )
        )
        self.action = action
        self.generation_id = generation_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: ui.Item[Any], match: re.Match[str], /
    ) -> ResultButton:
        """Rebuild the button from its ``custom_id``."""
        return cls(match["action"], int(match["id"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        """Hand the press to the generate cog, through the single error path."""
        await guarded(
            interaction,
            lambda: _handler(interaction).on_result_button(
                interaction, self.action, self.generation_id
            ),
        )


class MoodButton(ui.DynamicItem[ui.Button[ui.View]], template=rf"pmg:mood:(?P<id>{ID})"):
    """The chat's offer of a sticker that answers the mood of the conversation."""

    def __init__(self, user_id: int) -> None:
        super().__init__(
            ui.Button(
                style=discord.ButtonStyle.primary,
                emoji="🎨",
                label="Sticker for this mood",
                custom_id=f"pmg:mood:{user_id}",
            )
        )
        self.user_id = user_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: ui.Item[Any], match: re.Match[str], /
    ) -> MoodButton:
        """Rebuild the button from its ``custom_id``."""
        return cls(int(match["id"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        """Hand the press to the generate cog, through the single error path."""
        await guarded(
            interaction, lambda: _handler(interaction).on_mood_button(interaction, self.user_id)
        )


def result_view(generation_id: int) -> ui.View:
    """Return the persistent buttons under a result."""
    view = ui.View(timeout=None)
    for action in RESULT_ACTIONS:
        view.add_item(ResultButton(action, generation_id))
    return view


def mood_view(user_id: int) -> ui.View:
    """Return the sticker offer under a chat reply."""
    view = ui.View(timeout=None)
    view.add_item(MoodButton(user_id))
    return view
