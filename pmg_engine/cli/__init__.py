"""``pmg``: the project's main command line (a composition root: settings are built here)."""

from __future__ import annotations

import platform

import click

from bot.cli import bot_command
from pmg_engine import __version__
from pmg_engine.cli._runtime import (
    display_url,
    get_settings,
    open_database,
    print_json,
    run_async,
    stdout,
)
from pmg_engine.cli.chat import chat, generate
from pmg_engine.cli.db import db_group
from pmg_engine.cli.models import keywords, models_group
from pmg_engine.cli.worker import worker
from pmg_engine.corpus.cli import data_group
from pmg_engine.db import migrate
from pmg_engine.eval import eval_group
from pmg_engine.reference.cli import reference_index
from pmg_engine.train.cli import train_group


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="pmg")
def cli() -> None:
    """Personalized sticker bot: chat, generate, train and operate."""


cli.add_command(db_group)
cli.add_command(models_group)
cli.add_command(keywords)
cli.add_command(chat)
cli.add_command(generate)
data_group.add_command(reference_index)
cli.add_command(data_group)
cli.add_command(train_group)
cli.add_command(eval_group)
cli.add_command(bot_command)
cli.add_command(worker)


@cli.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@click.pass_context
@run_async
async def status(ctx: click.Context, as_json: bool) -> None:
    """Show whether the stack is ready: settings, database revision and contents."""
    settings = get_settings(ctx)
    from pmg_engine.service import UserService

    async with open_database(settings) as db:
        users = UserService(sessions=db.sessions, outputs_dir=settings.storage.outputs_dir)
        stats = await users.stats()
        revision = await migrate.current_revision(db.engine)
    report = {
        "version": __version__,
        "python": platform.python_version(),
        "database": display_url(settings.database_url),
        "revision": revision,
        "queue": settings.queue.backend,
        "llm": f"{settings.llm.provider}:{settings.llm.model}",
        "generator": settings.generator.model,
        "data_dir": str(settings.storage.data_dir.resolve()),
        "rows": stats.tables,
    }
    if as_json:
        print_json(report)
        return
    stdout.print(f"[bold green]pmg {__version__} is ready[/]")
    for key, value in report.items():
        if key != "rows":
            stdout.print(f"  {key:<10} {value}", highlight=False)
    rows = ", ".join(f"{name} {count}" for name, count in stats.tables.items())
    stdout.print(f"  {'rows':<10} {rows}", highlight=False)


@cli.command("start")
@click.pass_context
def start(ctx: click.Context) -> None:
    """Run the main job: the Discord bot when a token is configured, else the local chat."""
    token = get_settings(ctx).discord.token
    if token is not None and token.get_secret_value().strip():
        ctx.invoke(bot_command)
    else:
        ctx.invoke(chat)


def main() -> None:
    """Entry point of the ``pmg`` console script."""
    cli(prog_name="pmg")


if __name__ == "__main__":
    main()
