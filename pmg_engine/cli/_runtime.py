"""Shared plumbing of the command-line entry points (each is a composition root)."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import wraps
from typing import Any, NoReturn, ParamSpec, TypeVar

import click
from rich.console import Console
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from config import Settings, SettingsError, load_settings
from pmg_engine.db import migrate
from pmg_engine.db.engine import create_engine, session_factory
from pmg_engine.errors import PMGError

P = ParamSpec("P")
T = TypeVar("T")

stdout = Console(soft_wrap=True)
stderr = Console(stderr=True, soft_wrap=True)


def fail(message: str, *, status: int = 1) -> NoReturn:
    """Print one clear sentence to stderr and exit with ``status``."""
    stderr.print(f"[bold red]error:[/] {message}", highlight=False, markup=True)
    sys.exit(status)


def get_settings(ctx: click.Context) -> Settings:
    """Return the settings loaded once per command invocation."""
    root = ctx.find_root()
    if not isinstance(root.obj, dict):
        root.obj = {}
    if "settings" not in root.obj:
        try:
            root.obj["settings"] = load_settings()
        except SettingsError as exc:
            fail(str(exc), status=2)
    settings = root.obj["settings"]
    assert isinstance(settings, Settings)
    return settings


def display_url(url: str) -> str:
    """Return the URL with any password hidden."""
    return make_url(url).render_as_string(hide_password=True)


@dataclass
class Database:
    """An open engine and its session factory."""

    url: str
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]


@asynccontextmanager
async def open_database(
    settings: Settings, *, require_migrated: bool = True
) -> AsyncIterator[Database]:
    """Open the configured database; refuse a database that is behind the code's migrations."""
    url = settings.database_url
    engine = create_engine(url, echo=settings.database.echo, pool_size=settings.database.pool_size)
    try:
        if require_migrated:
            current = await migrate.current_revision(engine)
            head = migrate.head_revision()
            if current != head:
                raise PMGError(
                    f"the database at {display_url(url)} is at revision {current or 'none'}, "
                    f"the code needs {head}: run `pmg db upgrade`"
                )
        yield Database(url=url, engine=engine, sessions=session_factory(engine))
    finally:
        await engine.dispose()


def run_async(func: Callable[P, Awaitable[T]]) -> Callable[P, T]:
    """Run an async click command body; expected errors become one sentence and exit 1."""

    @wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return asyncio.run(_await(func(*args, **kwargs)))
        except PMGError as exc:
            fail(str(exc))
        except (DBAPIError, OSError) as exc:
            # A database that cannot be reached, or does not exist, is an expected failure:
            # one sentence, no trace (and never the statement's parameters).
            reason = getattr(exc, "orig", None) or exc
            fail(f"cannot use the database: {reason}")

    return wrapper


async def _await(awaitable: Awaitable[T]) -> T:
    return await awaitable


def print_json(data: Any) -> None:
    """Print ``data`` as indented JSON on stdout (machine-readable, no colour)."""
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))
