"""The bot's composition root: settings, database, models, service, queue, bot (``pmg bot``)."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from bot.errors import Refused

if TYPE_CHECKING:
    from config import Settings
    from pmg_engine.queue import JobQueue
    from pmg_engine.service import PMGService

log = logging.getLogger("bot")
NO_TOKEN = (
    "no Discord bot token is configured: set PMG_DISCORD__TOKEN (or `token` under [discord] "
    "in config/local.toml) to the token from the Discord developer portal"
)


def require_token(settings: Settings) -> str:
    """Return the bot token, or raise ``Refused`` with one sentence naming the setting."""
    token = settings.discord.token
    if token is None or not token.get_secret_value().strip():
        raise Refused(NO_TOKEN)
    return token.get_secret_value().strip()


def build_queue(settings: Settings, service: PMGService) -> JobQueue:
    """Return the configured job queue (issue 5); nothing starts until ``queue.start()``."""
    if settings.queue.backend == "celery":
        from pmg_engine.queue.celery_queue import CeleryQueue

        return CeleryQueue(service, settings=settings.queue)
    from pmg_engine.queue.inprocess import InProcessQueue

    return InProcessQueue(service, settings=settings.queue)


async def run(settings: Settings, *, sync: bool = False) -> None:
    """Run the bot until it is stopped; every resource is created here and closed here."""
    from bot.app import BotDeps, PMGBot
    from pmg_engine.chat import ChatReplier
    from pmg_engine.db import migrate
    from pmg_engine.db.engine import create_engine, session_factory
    from pmg_engine.runtime import build_models, service_config
    from pmg_engine.service import PMGService

    token = require_token(settings)
    # 1. The database (the embedded SQLite default migrates itself, like `pmg chat`).
    if settings.database.url is None:
        await migrate.upgrade(settings.database_url)
    engine = create_engine(
        settings.database_url, echo=settings.database.echo, pool_size=settings.database.pool_size
    )
    try:
        # 2. Models: the generator only where this process draws (not with Celery workers).
        draws_here = settings.queue.backend == "inprocess"
        loaded = await asyncio.to_thread(build_models, settings, with_generator=draws_here)
        for note in loaded.notes:
            log.warning("%s", note)
        service = PMGService(
            sessions=session_factory(engine), models=loaded.models, config=service_config(settings)
        )
        # 3. The queue, then the bot.
        queue = build_queue(settings, service)
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
            await queue.close()
    finally:
        await engine.dispose()


def main() -> None:
    """``python -m bot``: the same as ``pmg bot``."""
    from bot.cli import bot_command

    bot_command(prog_name="python -m bot")


if __name__ == "__main__":
    main()
