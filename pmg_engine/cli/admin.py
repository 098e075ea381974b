"""``pmg-admin``: inspect, export and erase what is stored about users."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

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
from pmg_engine.db import admin, repo
from pmg_engine.db.admin import UserReport
from pmg_engine.db.types import utcnow
from pmg_engine.privacy import export_user, forget_user

json_option = click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
user_argument = click.argument("user_id", type=int)
# Local users (`pmg chat`) have negative ids: `forget -123` is an id, not an option.
NEGATIVE_IDS = {"ignore_unknown_options": True}


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
    async with open_database(get_settings(ctx)) as db, db.sessions() as session:
        rows = []
        for user in await repo.list_users(session=session, limit=limit):
            profile = await repo.latest_profile(session=session, user_id=user.id)
            counts = await admin.user_counts(session=session, user_id=user.id)
            rows.append(
                {
                    "user_id": user.id,
                    "name": user.name,
                    "source": user.source,
                    "last_seen_at": user.last_seen_at.isoformat(),
                    "profile_version": profile.version if profile else None,
                    "messages": counts["messages"],
                    "generations": counts["generations"],
                }
            )
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
    async with open_database(get_settings(ctx)) as db, db.sessions() as session:
        report = await admin.user_report(session=session, user_id=user_id)
    if as_json:
        print_json(report.to_json())
        return
    render_report(report)


def render_report(report: UserReport) -> None:
    """Print a user report as a human-readable table."""
    table = Table(title=f"user {report.user_id} ({report.name})", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value")
    for name, value in admin.report_rows(report):
        table.add_row(name, value)
    stdout.print(table)


@cli.command("history", context_settings=NEGATIVE_IDS)
@user_argument
@json_option
@click.pass_context
@run_async
async def history(ctx: click.Context, user_id: int, as_json: bool) -> None:
    """Show every version of a user's preference profile, oldest first."""
    async with open_database(get_settings(ctx)) as db, db.sessions() as session:
        versions = await admin.profile_versions(session=session, user_id=user_id)
    if as_json:
        print_json([admin.to_json(v) for v in versions])
        return
    table = Table(title=f"profile history of user {user_id}")
    for column in ("version", "created", "keywords", "embedding", "up to behaviour"):
        table.add_column(column)
    for v in versions:
        table.add_row(
            str(v.version),
            v.created_at.isoformat(timespec="seconds"),
            ", ".join(v.keywords) or "-",
            admin.embedding_summary(v),
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
    settings = get_settings(ctx)
    async with open_database(settings) as db:
        if out is not None and out.suffix.lower() == ".zip":
            archive = await export_user(
                sessions=db.sessions, outputs_dir=settings.storage.outputs_dir, user_id=user_id
            )
            await asyncio.to_thread(out.write_bytes, archive)
            click.echo(f"wrote {out}", err=True)
            return
        async with db.sessions() as session:
            data = await admin.export_user(session=session, user_id=user_id)
    data = {"exported_at": utcnow().isoformat(), "format": "pmg-user-export/1", **data}
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
    settings = get_settings(ctx)
    async with open_database(settings) as db:
        async with db.sessions() as session:
            report = await admin.user_report(session=session, user_id=user_id)
        if not yes:
            if not sys.stdin.isatty():
                fail("refusing to forget without confirmation: pass --yes")
            question = (
                f"Delete user {user_id} ({report.name}) and "
                f"{sum(report.counts.values())} rows about them?"
            )
            if not click.confirm(question, default=False):
                fail("nothing was deleted")
        summary = await forget_user(
            sessions=db.sessions, outputs_dir=settings.storage.outputs_dir, user_id=user_id
        )
    if as_json:
        print_json(summary.to_json())
        return
    rows = ", ".join(f"{name} {count}" for name, count in summary.deleted.items())
    line = f"forgot user {user_id}: {rows}; files {summary.files}"
    if summary.others_rewritten:
        line += f"; other users' lines unquoted {summary.others_rewritten}"
    stdout.print(line, highlight=False)


@cli.command("stats")
@json_option
@click.pass_context
@run_async
async def stats(ctx: click.Context, as_json: bool) -> None:
    """Show row counts per table and generations per status."""
    async with open_database(get_settings(ctx)) as db, db.sessions() as session:
        data = await admin.database_stats(session=session)
    if as_json:
        print_json(data)
        return
    table = Table(title="database")
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, count in data["tables"].items():
        table.add_row(name, str(count))
    stdout.print(table)
    by_status = ", ".join(f"{s} {n}" for s, n in data["generations_by_status"].items())
    stdout.print(f"generations by status: {by_status or 'none'}", highlight=False)


cli.add_command(jobs_group)


def main() -> None:
    """Entry point of the ``pmg-admin`` console script."""
    cli(prog_name="pmg-admin")
