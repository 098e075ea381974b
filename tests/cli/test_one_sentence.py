"""Operator mistakes and outages answered with one sentence, never a traceback."""

from __future__ import annotations

import asyncio
import logging
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner

from pmg_engine.cli import cli
from pmg_engine.db import repo
from pmg_engine.db.engine import create_engine, session_factory
from pmg_engine.db.migrate import upgrade
from tests.conftest import POSTGRES_ADMIN_DSN, _postgres_available


async def test_status_on_a_postgres_database_that_does_not_exist() -> None:
    """`pmg status` against a missing PostgreSQL database: one sentence naming it, status 1."""
    if await _postgres_available() is not None:
        pytest.skip("PostgreSQL is not reachable")
    name = f"pmg_missing_{uuid.uuid4().hex[:8]}"
    base = POSTGRES_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    env = {"PMG_DATABASE__URL": f"{base}/{name}"}
    result = await asyncio.to_thread(CliRunner().invoke, cli, ["status"], env=env)
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: cannot use the database:")
    assert name in lines[0]


async def test_echoed_sql_never_logs_parameters(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """With SQL echo on (what `pmg bot -v` and database.echo show), no message text is logged."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'echo.sqlite3'}"
    await upgrade(url)
    engine = create_engine(url, echo=True)
    secret = "my secret diary entry"
    try:
        with caplog.at_level(logging.DEBUG, logger="sqlalchemy.engine"):
            async with session_factory(engine)() as session, session.begin():
                await repo.upsert_user(session=session, user_id=9, name="ivy")
                await repo.add_message(session=session, user_id=9, role="user", content=secret)
    finally:
        await engine.dispose()
    assert "INSERT INTO messages" in caplog.text
    assert secret not in caplog.text
