"""``pmg bot``: run the Discord bot (register ``bot_command`` in the ``pmg`` group)."""

from __future__ import annotations

import asyncio
import logging

import click


@click.command("bot")
@click.option(
    "--sync",
    is_flag=True,
    help="Sync slash commands with Discord before running (only after changing commands: "
    "Discord limits syncs per day). With discord.dev_guild_id set, syncs to that server.",
)
@click.option("-v", "--verbose", is_flag=True, help="Log debug messages.")
def bot_command(sync: bool, verbose: bool) -> None:
    """Run the Discord bot: chat, /sticker, /image, /prefs and /admin."""
    import aiohttp
    import discord
    from sqlalchemy.exc import DBAPIError

    from bot.__main__ import require_token, run
    from bot.errors import Refused
    from config import SettingsError, load_settings
    from pmg_engine.errors import PMGError

    try:
        settings = load_settings()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        require_token(settings)
    except Refused as exc:
        raise click.ClickException(str(exc)) from None
    discord.utils.setup_logging(level=logging.DEBUG if verbose else logging.INFO)
    # SQL statements are logged only with database.echo, and never with their parameters
    # (they hold users' messages): see pmg_engine.db.engine.create_engine.
    logging.getLogger("sqlalchemy").setLevel(logging.WARNING)
    try:
        asyncio.run(run(settings, sync=sync))
    except discord.LoginFailure:
        raise click.ClickException("Discord refused the token: check PMG_DISCORD__TOKEN") from None
    except (aiohttp.ClientError, discord.GatewayNotFound, OSError) as exc:
        reason = str(exc) or type(exc).__name__
        raise click.ClickException(
            f"cannot reach Discord ({reason}); check this machine's network and try again"
        ) from None
    except DBAPIError as exc:
        raise click.ClickException(f"cannot use the database: {exc.orig}") from None
    except PMGError as exc:
        raise click.ClickException(str(exc)) from None
    except KeyboardInterrupt:
        pass
