"""``pmg worker`` (a Celery GPU worker) and ``pmg-admin jobs`` (stuck and failed jobs).

``pmg worker`` is the worker process's composition root: settings, models, database and the
Celery app are built here, in that order, and nothing before the command runs.
"""

from __future__ import annotations

import sys
from typing import Any

import click
from rich.table import Table
from sqlalchemy.exc import DBAPIError

from pmg_engine.cli._runtime import (
    display_url,
    fail,
    get_settings,
    open_database,
    print_json,
    run_async,
    stderr,
    stdout,
)
from pmg_engine.errors import PMGError
from pmg_engine.queue import jobs
from pmg_engine.states import JobStatus

LOG_LEVELS = ("debug", "info", "warning", "error")
STATUSES = tuple(s.value for s in JobStatus if s != JobStatus.DONE)
# `jobs requeue`: the row is queued again but the broker did not take the job.
REQUEUE_WAITS = 3


@click.command("worker")
@click.option(
    "--loglevel",
    type=click.Choice(LOG_LEVELS),
    default="info",
    show_default=True,
    help="Log level.",
)
@click.option("--hostname", default=None, help="Celery node name (default pmg-PID@HOST).")
@click.option(
    "--threads",
    type=click.IntRange(1, 1024),
    default=None,
    help="torch CPU threads (default: torch's own choice).",
)
@click.pass_context
def worker(ctx: click.Context, loglevel: str, hostname: str | None, threads: int | None) -> None:
    """Run a generation worker: take jobs from Redis one at a time (Celery, solo pool).

    Start one per GPU, on any number of machines that share the database, Redis and the
    outputs folder. A worker killed mid-job loses nothing: the job goes to the next worker.
    """
    settings = get_settings(ctx)
    from pmg_engine.queue.celery_app import broker_location
    from pmg_engine.queue.worker import WorkerRuntime, serve

    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    runtime = WorkerRuntime(settings)
    click.echo(
        f"pmg worker {runtime.worker_id}: loading models "
        f"(database {display_url(settings.database_url)})",
        err=True,
    )
    try:
        notes = runtime.open()
    except PMGError as exc:
        runtime.close()
        fail(str(exc))
    except (DBAPIError, OSError) as exc:
        runtime.close()
        fail(f"cannot use the database: {getattr(exc, 'orig', None) or exc}")
    for note in notes:
        click.echo(f"note: {note}", err=True)
    if settings.queue.backend != "celery":
        click.echo(
            "note: queue.backend is 'inprocess', so bots run jobs themselves; set "
            "PMG_QUEUE__BACKEND=celery for them to send jobs here",
            err=True,
        )
    location = broker_location(settings.queue.broker_url.get_secret_value())
    click.echo(
        f"pmg worker {runtime.worker_id}: taking jobs from Redis at {location}, "
        f"queue {settings.queue.namespace!r}",
        err=True,
    )
    try:
        code = serve(runtime, hostname=hostname, loglevel=loglevel)
    finally:
        runtime.close()
    sys.exit(code)


# -- pmg-admin jobs ------------------------------------------------------------------------------


@click.group("jobs", invoke_without_command=True)
@click.option(
    "--status",
    "statuses",
    type=click.Choice(STATUSES),
    multiple=True,
    help="Only these statuses (repeatable; default failed, queued, running).",
)
@click.option(
    "--stuck-after",
    type=click.FloatRange(min=0),
    default=None,
    help="Seconds a queued or running job may take before it counts as stuck "
    "(default queue.job_timeout_s; 0 lists every pending job).",
)
@click.option("--limit", type=click.IntRange(1, 10_000), default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@click.pass_context
def jobs_group(
    ctx: click.Context,
    statuses: tuple[str, ...],
    stuck_after: float | None,
    limit: int,
    as_json: bool,
) -> None:
    """List failed and stuck generation jobs; `jobs requeue ID` runs one again."""
    if ctx.invoked_subcommand is None:
        _list_jobs(
            ctx, statuses or (jobs.FAILED, jobs.QUEUED, jobs.RUNNING), stuck_after, limit, as_json
        )


@run_async
async def _list_jobs(
    ctx: click.Context,
    statuses: tuple[str, ...],
    stuck_after: float | None,
    limit: int,
    as_json: bool,
) -> None:
    settings = get_settings(ctx)
    stuck = settings.queue.job_timeout_s if stuck_after is None else stuck_after
    async with open_database(settings) as db, db.sessions() as session:
        rows = await jobs.list_jobs(
            session=session, stuck_after_s=stuck, statuses=statuses, limit=limit
        )
    if as_json:
        print_json([row.to_json() for row in rows])
        return
    table = Table(title=f"{len(rows)} jobs failed or pending for over {stuck:.0f} s")
    for column in ("id", "status", "attempts", "worker", "user", "created", "error"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(
            str(row.generation_id),
            row.status,
            str(row.attempts),
            row.worker_id or "-",
            str(row.user_id),
            row.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            (row.error or "-")[:200],
        )
    stdout.print(table)


@jobs_group.command("requeue")
@click.argument("generation_id", type=int)
@click.option(
    "--keep-attempts", is_flag=True, help="Keep the attempt count and error (default: reset)."
)
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@click.pass_context
@run_async
async def requeue(
    ctx: click.Context, generation_id: int, keep_attempts: bool, as_json: bool
) -> None:
    """Queue a failed, cancelled or stuck job again.

    Exits 3 when the row is queued again but the broker cannot be reached: the job waits in
    the database until a bot starts (or this command is run again with the broker up).
    """
    settings = get_settings(ctx)
    waiting = False
    async with open_database(settings) as db:
        async with db.sessions() as session, session.begin():
            row = await jobs.requeue(
                session=session, generation_id=generation_id, reset_attempts=not keep_attempts
            )
            attempts = row.attempts
        report: dict[str, Any] = {
            "generation_id": generation_id,
            "status": row.status,
            "attempts": attempts,
            "sent": False,
        }
        if settings.queue.backend == "celery":
            from pmg_engine.queue.base import QueueUnavailable
            from pmg_engine.queue.celery_app import CeleryBroker, broker_location

            broker = CeleryBroker(settings.queue)
            try:
                report["position"] = await broker.enqueue(generation_id)
                report["sent"] = True
                message = f"job {generation_id} is queued again at position {report['position']}"
            except QueueUnavailable:
                waiting = True
                location = broker_location(settings.queue.broker_url.get_secret_value())
                message = (
                    f"job {generation_id} waits: it is queued again in the database, but Redis "
                    f"at {location} cannot be reached, so no worker has it yet; a bot sends it "
                    "when it next starts, or run this command again once Redis is up"
                )
            finally:
                await broker.close()
        else:
            message = (
                f"job {generation_id} is queued again; the bot runs it when it next starts "
                "(the in-process queue lives inside the bot)"
            )
    if as_json:
        print_json({**report, "message": message})
    elif waiting:
        stderr.print(f"[bold yellow]warning:[/] {message}", highlight=False)
    else:
        stdout.print(message, highlight=False)
    if waiting:
        sys.exit(REQUEUE_WAITS)


if __name__ == "__main__":
    # Lets tests and process managers start a worker without the `pmg` entry point.
    worker(prog_name="pmg worker")
