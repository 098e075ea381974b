"""``pmg-admin``: inspect, export and erase what is stored about users."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.table import Table

from pmg_engine.cli._runtime import (
    fail,
    get_settings,
    open_database,
    print_json,
    run_async,
    stdout,
)
from pmg_engine.cli.worker import jobs_group

if TYPE_CHECKING:
    # The service package imports torch: loaded when a command runs, not for `--help`.
    from pmg_engine.service import UserReportView, UserService

json_option = click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
user_argument = click.argument("user_id", type=int)
# Local users (`pmg chat`) have negative ids: `forget -123` is an id, not an option.
NEGATIVE_IDS = {"ignore_unknown_options": True}


@asynccontextmanager
async def user_service(ctx: click.Context) -> AsyncIterator[UserService]:
    """Open the configured database and yield the user operations over it."""
    from pmg_engine.service import UserService

    settings = get_settings(ctx)
    async with open_database(settings) as db:
        yield UserService(
            sessions=db.sessions,
            outputs_dir=settings.storage.outputs_dir,
            learning_opt_in_default=settings.discord.learning_opt_in_default,
        )


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """Admin scripts: inspect and manage stored users and preferences."""


@cli.command("users")
@click.option("--limit", type=click.IntRange(1, 10_000), default=100, show_default=True)
@json_option
@click.pass_context
@run_async
async def users(ctx: click.Context, limit: int, as_json: bool) -> None:
    """List users, most recently seen first."""
    async with user_service(ctx) as users:
        rows = [summary.to_json() for summary in await users.list_users(limit=limit)]
    if as_json:
        print_json(rows)
        return
    table = Table(title=f"{len(rows)} users")
    for column in ("user id", "name", "source", "last seen", "profile", "messages", "generations"):
        table.add_column(column)
    for row in rows:
        table.add_row(*(str(v) if v is not None else "-" for v in row.values()))
    stdout.print(table)


@cli.command("show", context_settings=NEGATIVE_IDS)
@user_argument
@json_option
@click.pass_context
@run_async
async def show(ctx: click.Context, user_id: int, as_json: bool) -> None:
    """Show one user's stored preferences and how much is stored about them."""
    async with user_service(ctx) as users:
        report = await users.report(user_id=user_id)
    if as_json:
        print_json(report.to_json())
        return
    render_report(report)


def render_report(report: UserReportView) -> None:
    """Print a user report as a human-readable table."""
    from pmg_engine.service import report_rows

    table = Table(title=f"user {report.user_id} ({report.name})", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value")
    for name, value in report_rows(report):
        table.add_row(name, value)
    stdout.print(table)


@cli.command("history", context_settings=NEGATIVE_IDS)
@user_argument
@json_option
@click.pass_context
@run_async
async def history(ctx: click.Context, user_id: int, as_json: bool) -> None:
    """Show every version of a user's preference profile, oldest first."""
    from pmg_engine.service import embedding_summary, report_json

    async with user_service(ctx) as users:
        versions = await users.profile_history(user_id=user_id)
    if as_json:
        print_json([report_json(v) for v in versions])
        return
    table = Table(title=f"profile history of user {user_id}")
    for column in ("version", "created", "keywords", "embedding", "up to behaviour"):
        table.add_column(column)
    for v in versions:
        table.add_row(
            str(v.version),
            v.created_at.isoformat(timespec="seconds"),
            ", ".join(v.keywords) or "-",
            embedding_summary(v),
            str(v.last_behaviour_id) if v.last_behaviour_id is not None else "-",
        )
    stdout.print(table)


@cli.command("export", context_settings=NEGATIVE_IDS)
@user_argument
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write to FILE, not stdout; FILE.zip gets the rows and the user's pictures.",
)
@click.pass_context
@run_async
async def export(ctx: click.Context, user_id: int, out: Path | None) -> None:
    """Export everything stored about a user as JSON, or as a zip with their pictures."""
    async with user_service(ctx) as users:
        if out is not None and out.suffix.lower() == ".zip":
            export = await users.export_archive(user_id=user_id)
            await asyncio.to_thread(out.write_bytes, export.archive)
            click.echo(f"wrote {out}", err=True)
            return
        data = await users.export_document(user_id=user_id)
    if out is None:
        print_json(data)
        return
    text = json.dumps(data, indent=2, ensure_ascii=False)
    await asyncio.to_thread(out.write_text, text, encoding="utf-8")
    click.echo(f"wrote {out}", err=True)


@cli.command("forget", context_settings=NEGATIVE_IDS)
@user_argument
@click.option("--yes", is_flag=True, help="Do not ask for confirmation (for scripts).")
@json_option
@click.pass_context
@run_async
async def forget(ctx: click.Context, user_id: int, yes: bool, as_json: bool) -> None:
    """Delete every row about a user, and their generated files."""
    async with user_service(ctx) as users:
        report = await users.report(user_id=user_id)
        if not yes:
            if not sys.stdin.isatty():
                fail("refusing to forget without confirmation: pass --yes")
            question = (
                f"Delete user {user_id} ({report.name}) and "
                f"{sum(report.counts.values())} rows about them?"
            )
            if not click.confirm(question, default=False):
                fail("nothing was deleted")
        # No queue runs in this process: queued jobs are cancelled on their rows.
        summary = await users.forget(user_id=user_id)
    if as_json:
        print_json(summary.to_json())
        return
    rows = ", ".join(f"{name} {count}" for name, count in summary.deleted.items())
    line = f"forgot user {user_id}: {rows}; files {summary.files}"
    if summary.jobs_cancelled:
        line += f"; unfinished jobs cancelled {summary.jobs_cancelled}"
    if summary.others_rewritten:
        line += f"; other users' lines unquoted {summary.others_rewritten}"
    stdout.print(line, highlight=False)


@cli.command("stats")
@json_option
@click.pass_context
@run_async
async def stats(ctx: click.Context, as_json: bool) -> None:
    """Show row counts per table and generations per status."""
    async with user_service(ctx) as users:
        data = await users.stats()
    if as_json:
        print_json(data.to_json())
        return
    table = Table(title="database")
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, count in data.tables.items():
        table.add_row(name, str(count))
    stdout.print(table)
    by_status = ", ".join(f"{s} {n}" for s, n in data.generations_by_status.items())
    stdout.print(f"generations by status: {by_status or 'none'}", highlight=False)


cli.add_command(jobs_group)


def main() -> None:
    """Entry point of the ``pmg-admin`` console script."""
    cli(prog_name="pmg-admin")
