"""``pmg db``: schema migrations."""

from __future__ import annotations

import click

from pmg_engine.cli._runtime import display_url, get_settings, open_database, run_async, stdout
from pmg_engine.db import migrate
from pmg_engine.db.engine import create_engine


@click.group("db")
def db_group() -> None:
    """Create and migrate the database."""


@db_group.command("upgrade")
@click.argument("revision", default="head")
@click.pass_context
@run_async
async def upgrade(ctx: click.Context, revision: str) -> None:
    """Migrate the database up to REVISION (default: the newest)."""
    settings = get_settings(ctx)
    await migrate.upgrade(settings.database_url, revision)
    await _print_revision(settings.database_url)


@db_group.command("downgrade")
@click.argument("revision")
@click.pass_context
@run_async
async def downgrade(ctx: click.Context, revision: str) -> None:
    """Migrate the database down to REVISION (`base` removes every table)."""
    settings = get_settings(ctx)
    await migrate.downgrade(settings.database_url, revision)
    await _print_revision(settings.database_url)


async def _print_revision(url: str) -> None:
    engine = create_engine(url)
    try:
        revision = await migrate.current_revision(engine)
    finally:
        await engine.dispose()
    stdout.print(f"database {display_url(url)} is at revision {revision or 'base (empty)'}")


@db_group.command("current")
@click.pass_context
@run_async
async def current(ctx: click.Context) -> None:
    """Show the database's revision and the newest one the code ships."""
    settings = get_settings(ctx)
    async with open_database(settings, require_migrated=False) as db:
        revision = await migrate.current_revision(db.engine)
    stdout.print(f"database: {revision or 'not migrated'}; code: {migrate.head_revision()}")
