"""Rows left ``running`` by a local process that died are taken back at start."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pmg_engine.db import repo
from pmg_engine.db.models import Generation
from pmg_engine.queue import jobs

Sessions = async_sessionmaker[AsyncSession]


def dead_pid() -> int:
    """Return the pid of a process that has just ended."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


async def running_row(sessions: Sessions, n: int, worker_id: str | None) -> int:
    """Record a job and mark it running for ``worker_id``."""
    async with sessions() as session, session.begin():
        await repo.upsert_user(session=session, user_id=3, name="kim")
        row, _ = await repo.create_generation(
            session=session,
            job_key=f"reclaim-{n}",
            user_id=3,
            prompt="a cat",
            personalization_weight=0.5,
            seed=n,
        )
        await session.execute(
            update(Generation)
            .where(Generation.id == row.id)
            .values(status="running", worker_id=worker_id, attempts=1)
        )
        return row.id


async def test_reclaim_takes_back_only_rows_of_dead_local_processes(sessions: Sessions) -> None:
    """Dead in-process bot: queued again; dead chat or no owner: failed; live or remote: kept."""
    host, gone = socket.gethostname(), dead_pid()
    bot_row = await running_row(sessions, 1, f"inprocess@{host}:{gone}")
    chat_row = await running_row(sessions, 2, f"chat@{host}:{gone}")
    ownerless = await running_row(sessions, 3, None)
    live = await running_row(sessions, 4, f"inprocess@{host}:{os.getpid()}")
    remote = await running_row(sessions, 5, f"chat@elsewhere:{gone}")
    celery = await running_row(sessions, 6, f"{host}:{gone}:abc123")
    reclaimed = await jobs.reclaim_stale(sessions=sessions)
    assert reclaimed.requeued == [bot_row]
    assert sorted(reclaimed.failed) == sorted([chat_row, ownerless])
    rows = await jobs.statuses(
        sessions=sessions, generation_ids=[bot_row, chat_row, live, remote, celery]
    )
    assert (rows[bot_row].status, rows[bot_row].attempts, rows[bot_row].worker_id) == (
        "queued",
        1,
        None,
    )
    assert (rows[chat_row].status, rows[chat_row].error) == ("failed", jobs.INTERRUPTED_MESSAGE)
    assert {rows[i].status for i in (live, remote, celery)} == {"running"}
    # The caller's own earlier rows are stale too: nothing of its own runs at its start.
    again = await jobs.reclaim_stale(sessions=sessions, own_id=f"inprocess@{host}:{os.getpid()}")
    assert again.requeued == [live]
