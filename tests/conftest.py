"""Shared fixtures: real migrated databases on SQLite and on the machine's PostgreSQL server."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pmg_engine.db import migrate
from pmg_engine.db.engine import create_engine, session_factory
from pmg_engine.db.models import Base

# The server CI starts (.ci/run); override to point at another one.
POSTGRES_ADMIN_DSN = os.environ.get(
    "PMG_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test"
)
BACKENDS = ["sqlite", "postgres"]
pytest_plugins = ["tests.tiny_models"]


@pytest.fixture(autouse=True)
def _isolated_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Keep every test away from the developer's environment and data folder."""
    for name in list(os.environ):
        if name.startswith("PMG_") and not name.startswith("PMG_TEST_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("PMG_STORAGE__DATA_DIR", str(tmp_path / "data"))


async def _postgres_available() -> str | None:
    try:
        conn = await asyncpg.connect(POSTGRES_ADMIN_DSN, timeout=5)
    except (OSError, asyncpg.PostgresError) as exc:
        return f"{type(exc).__name__}: {exc}"
    await conn.close()
    return None


@asynccontextmanager
async def fresh_postgres_database() -> AsyncIterator[str]:
    """Create an empty database on the server, yield its async URL, then drop it."""
    problem = await _postgres_available()
    if problem is not None:
        message = f"PostgreSQL at {POSTGRES_ADMIN_DSN} is not reachable ({problem})"
        if os.environ.get("CI"):
            pytest.fail(message + "; CI must run the PostgreSQL tests")
        pytest.skip(message)
    name = f"pmg_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(POSTGRES_ADMIN_DSN)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        base = POSTGRES_ADMIN_DSN.rsplit("/", 1)[0].replace(
            "postgresql://", "postgresql+asyncpg://"
        )
        yield f"{base}/{name}"
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@asynccontextmanager
async def fresh_database(backend: str, tmp_path: Path) -> AsyncIterator[str]:
    """Yield the URL of an empty database of ``backend``."""
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / f'pmg-{uuid.uuid4().hex[:8]}.sqlite3'}"
    else:
        async with fresh_postgres_database() as url:
            yield url


@pytest.fixture(params=BACKENDS, scope="session")
def backend(request: pytest.FixtureRequest) -> str:
    """Each database test runs on SQLite and on PostgreSQL."""
    return str(request.param)


@pytest.fixture(scope="session")
async def migrated_url(
    backend: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[str]:
    """A database migrated to head once per backend and test session."""
    async with fresh_database(backend, tmp_path_factory.mktemp("db")) as url:
        await migrate.upgrade(url)
        yield url


@pytest.fixture
async def sessions(migrated_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """A session factory on the migrated database, emptied after each test."""
    engine = create_engine(migrated_url)
    try:
        yield session_factory(engine)
        async with engine.begin() as conn:
            for table in reversed(Base.metadata.sorted_tables):
                await conn.execute(delete(table))
    finally:
        await engine.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> Iterator[str]:
    """The URL of a new SQLite file."""
    return f"sqlite+aiosqlite:///{tmp_path / 'pmg.sqlite3'}"


@pytest.fixture(scope="session")
async def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to head once per session; tests get copies."""
    path = tmp_path_factory.mktemp("sqlite-template") / "template.sqlite3"
    await migrate.upgrade(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture
async def sqlite_sessions(
    sqlite_template: Path, tmp_path: Path
) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """A migrated SQLite database (the embedded default) for one test."""
    path = tmp_path / "pmg.sqlite3"
    shutil.copy(sqlite_template, path)
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    try:
        yield session_factory(engine)
    finally:
        await engine.dispose()
