"""The generate extension: ``/sticker``, ``/image`` and the persistent buttons on results."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.exts.generate._buttons import MoodButton, ResultButton, mood_view, result_view
from bot.exts.generate._cog import Generate

if TYPE_CHECKING:
    from bot.app import PMGBot

__all__ = ["Generate", "MoodButton", "ResultButton", "mood_view", "result_view", "setup"]


async def setup(bot: PMGBot) -> None:
    """Load the cog and register the buttons, so presses on old messages still work."""
    bot.add_dynamic_items(ResultButton, MoodButton)
    await bot.add_cog(Generate(bot))
