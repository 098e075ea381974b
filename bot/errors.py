"""One error path for users: expected errors become one ephemeral sentence, the rest a log line."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import discord
from discord import app_commands

from pmg_engine.errors import PMGError

log = logging.getLogger(__name__)

GENERIC = "Something went wrong on my side; it has been logged. Please try again later."
STALE_COMMAND = "This command changed since your app loaded it; try again in a minute."
MALFORMED = "I could not read the options of this command; please try again."


class Refused(PMGError):
    """A request the bot declines (limits, blocklist, ownership); the message is shown as is."""


class NotAllowed(app_commands.CheckFailure):
    """The user may not run this command here; the message is shown as is."""


class MalformedInteraction(app_commands.AppCommandError):
    """discord.py could not read the interaction's options (e.g. text for a number option)."""


def sentence(text: str) -> str:
    """Return ``text`` with a capital first letter and a final full stop."""
    text = " ".join(str(text).split())
    if not text:
        return GENERIC
    text = text[0].upper() + text[1:]
    return text if text[-1] in ".!?" else text + "."


def user_message(error: BaseException) -> str | None:
    """Return the sentence to show for an expected error, or ``None`` for an unexpected one."""
    if isinstance(error, app_commands.CommandInvokeError):
        error = error.original
    if isinstance(error, PMGError | NotAllowed):
        return sentence(str(error))
    if isinstance(error, app_commands.TransformerError):
        if isinstance(error.__cause__, PMGError):
            return sentence(str(error.__cause__))
        return f"That value is not valid for this option: {str(error.value)[:50]!r}."
    if isinstance(error, app_commands.NoPrivateMessage):
        return "This command works in a server, not in direct messages."
    if isinstance(error, app_commands.CheckFailure):
        return "You are not allowed to use this command here."
    if isinstance(error, app_commands.CommandSignatureMismatch | app_commands.CommandNotFound):
        return STALE_COMMAND
    if isinstance(error, MalformedInteraction):
        return MALFORMED
    return None


async def tell(interaction: discord.Interaction, text: str) -> None:
    """Send ``text`` ephemerally, as the response or as a follow-up when already responded."""
    try:
        if interaction.response.is_done():
            await interaction.followup.send(text, ephemeral=True)
        else:
            await interaction.response.send_message(text, ephemeral=True)
    except discord.HTTPException:
        log.warning("could not tell user %s: %s", user_id_of(interaction), text, exc_info=True)


def user_id_of(interaction: discord.Interaction) -> int | None:
    """Return the invoking user's id, or ``None`` when the payload carried no user."""
    # discord.py leaves ``user`` as its MISSING sentinel when neither member nor user came.
    user_id = getattr(getattr(interaction, "user", None), "id", None)
    return user_id if isinstance(user_id, int) else None


def where_of(interaction: discord.Interaction) -> str:
    """Name what the interaction ran: ``/command``, ``component custom_id`` or its type."""
    try:
        command = interaction.command
    except Exception:  # noqa: BLE001  # a payload the tree cannot resolve still gets logged
        command = None
    if command is not None:
        return f"/{command.qualified_name}"
    data: dict[str, Any] = dict(interaction.data) if isinstance(interaction.data, dict) else {}
    if data.get("custom_id"):
        return f"component {data['custom_id']}"
    if data.get("name"):
        return f"/{data['name']}"
    return f"interaction of type {getattr(interaction.type, 'name', interaction.type)}"


async def report_error(interaction: discord.Interaction, error: BaseException) -> None:
    """Answer the user with one sentence; log unexpected errors with command, user and guild."""
    text = user_message(error)
    if text is None:
        original = getattr(error, "original", error)
        log.error(
            "unexpected error in %s for user %s in guild %s",
            where_of(interaction),
            user_id_of(interaction),
            getattr(interaction, "guild_id", None),
            exc_info=(type(original), original, original.__traceback__),
        )
        text = GENERIC
    await tell(interaction, text)


async def guarded(interaction: discord.Interaction, action: Callable[[], Awaitable[None]]) -> None:
    """Run a component's action through the same error path as the command tree."""
    try:
        await action()
    except Exception as error:  # noqa: BLE001  # the one place a button's errors are answered
        await report_error(interaction, error)


class PMGCommandTree(app_commands.CommandTree[discord.Client]):
    """The command tree whose ``on_error`` is the bot's single error path for commands."""

    async def _call(self, interaction: discord.Interaction) -> None:
        # discord.py parses options before any handler runs, and a value of the wrong type
        # (text for a number) escapes as a plain exception that nothing answers: route it here.
        try:
            await super()._call(interaction)
        except app_commands.AppCommandError:
            raise
        except (ValueError, TypeError, KeyError) as error:
            raise MalformedInteraction(str(error)) from error

    async def on_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        """Map expected errors to an ephemeral sentence; log the rest without showing them."""
        await report_error(interaction, error)
