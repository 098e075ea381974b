"""The bot's composition root and its command: ``pmg bot`` and ``python -m bot``."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from config import Settings

log = logging.getLogger("bot")
NO_TOKEN = (
    "no Discord bot token is configured: set PMG_DISCORD__TOKEN (or `token` under [discord] "
    "in config/local.toml) to the token from the Discord developer portal"
)


def require_token(settings: Settings) -> str:
    """Return the bot token, or raise ``Refused`` with one sentence naming the setting."""
    from bot.errors import Refused

    token = settings.discord.token
    if token is None or not token.get_secret_value().strip():
        raise Refused(NO_TOKEN)
    return token.get_secret_value().strip()


async def run(settings: Settings, *, sync: bool = False) -> None:
    """Run the bot until it is stopped; every resource is created here and closed here."""
    from bot.app import BotDeps, PMGBot
    from pmg_engine.chat import ChatReplier
    from pmg_engine.queue import create_queue
    from pmg_engine.runtime import build_models, open_sessions, service_config
    from pmg_engine.service import PMGService

    token = require_token(settings)
    # 1. The database (the embedded SQLite default migrates itself, like `pmg chat`).
    async with open_sessions(settings) as sessions:
        # 2. Models: the generator only where this process draws (not with Celery workers).
        draws_here = settings.queue.backend == "inprocess"
        loaded = await asyncio.to_thread(build_models, settings, with_generator=draws_here)
        for note in loaded.notes:
            log.warning("%s", note)
        service = PMGService(
            sessions=sessions, models=loaded.models, config=service_config(settings)
        )
        # 3. Background profile updates where this process holds the profile's models (a
        #    Celery worker updates its users' profiles itself: DESIGN.md section 4).
        if draws_here:
            await service.refresher.start()
        # 4. The queue, then the bot.
        queue = create_queue(settings.queue, service)
        await queue.start()
        try:
            deps = BotDeps.from_settings(
                settings,
                service=service,
                queue=queue,
                replier=ChatReplier(loaded.llm, window=service.config.chat_window),
                can_draw=not draws_here or loaded.models.generator is not None,
            )
            async with PMGBot(deps, sync_commands=sync) as client:
                await client.start(token)
        finally:
            # Pending profile updates are flushed before the models' thread goes away.
            await service.refresher.close()
            await queue.close()


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

    from config import SettingsError, load_settings
    from pmg_engine.errors import PMGError

    try:
        settings = load_settings()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        require_token(settings)
    except PMGError as exc:
        raise click.ClickException(str(exc)) from None
    discord.utils.setup_logging(level=logging.DEBUG if verbose else logging.INFO)
    # SQL statements are logged only with database.echo, and never with their parameters
    # (they hold users' messages): the engine's create_engine hides them.
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


def main() -> None:
    """``python -m bot``: the same as ``pmg bot``."""
    bot_command(prog_name="python -m bot")


if __name__ == "__main__":
    main()
