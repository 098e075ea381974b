"""Engine and session factory: SQLite (WAL, foreign keys on) by default, PostgreSQL by URL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)


def ensure_sqlite_folder(url: str) -> None:
    """Create the folder of a SQLite database file, so a fresh data directory just works."""
    parsed = make_url(url)
    database = parsed.database or ""
    if parsed.get_backend_name() == "sqlite" and database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)


def create_engine(url: str, *, echo: bool = False, pool_size: int = 5) -> AsyncEngine:
    """Create the async engine for ``url``; SQLite gets its pragmas and its folder.

    Statement parameters hold users' messages and prompts: they never appear in an error's
    text or in the echoed SQL (``hide_parameters``), so no traceback or log line quotes them.
    """
    if make_url(url).get_backend_name() == "sqlite":
        ensure_sqlite_folder(url)
        engine = create_async_engine(url, echo=echo, hide_parameters=True)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(
        url, echo=echo, hide_parameters=True, pool_size=pool_size, pool_pre_ping=True
    )


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # SQLite ships with foreign keys off; cascades on forget depend on them.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Return the session factory; objects stay readable after commit."""
    return async_sessionmaker(engine, expire_on_commit=False)
