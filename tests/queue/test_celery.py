"""The Celery queue against the machine's Redis and real `pmg worker` processes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pmg_engine.db import migrate, repo
from pmg_engine.db.engine import create_engine, session_factory
from pmg_engine.db.models import Generation
from pmg_engine.queue import JobCancelled, JobEvent, JobFailed, QueueUnavailable
from pmg_engine.queue.celery_app import RedisKeys, task_id_for
from pmg_engine.queue.celery_queue import CeleryQueue
from pmg_engine.service import GenerationRequest
from tests.conftest import fresh_postgres_database
from tests.queue.conftest import (
    WorkerProcess,
    block_outputs,
    drop_namespace,
    new_namespace,
    queue_settings,
    submitter_service,
    worker_env,
)

Sessions = async_sessionmaker[AsyncSession]
# Generous: a worker process on a busy 2-core machine takes 5-15 s to import torch and load.
WAIT_S = 90.0


def request(n: int, *, user_id: int = 11, **kw: Any) -> GenerationRequest:
    return GenerationRequest(user_id=user_id, prompt=f"a dog number {n}", seed=n, **kw)


async def row_of(sessions: Sessions, generation_id: int) -> Any:
    async with sessions() as session:
        return await repo.get_generation(session=session, generation_id=generation_id)


async def collect(queue: CeleryQueue, generation_id: int) -> list[JobEvent]:
    async with asyncio.timeout(WAIT_S):
        return [event async for event in queue.events(generation_id)]


# -- one worker for the module, on PostgreSQL (the scale-out setup) -------------------------------


@pytest.fixture(scope="module")
def module_namespace(redis_url: str) -> Iterator[str]:
    """The module's Redis namespace, deleted afterwards."""
    name = new_namespace()
    yield name
    drop_namespace(redis_url, name)


@pytest.fixture(scope="module")
async def cluster_db() -> AsyncIterator[str]:
    """A migrated PostgreSQL database shared by the bot side and the worker."""
    async with fresh_postgres_database() as url:
        await migrate.upgrade(url)
        yield url


@pytest.fixture(scope="module")
def cluster_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The data folder bot and worker share (outputs live under it)."""
    return tmp_path_factory.mktemp("cluster")


@pytest.fixture(scope="module")
def cluster_worker(
    redis_url: str,
    module_namespace: str,
    cluster_db: str,
    cluster_dir: Path,
    worker_sd_dir: Path,
    tiny_clip_dir: Path,
) -> Iterator[WorkerProcess]:
    """A real `pmg worker` process, started once for the module."""
    settings = queue_settings(redis_url, module_namespace)
    env = worker_env(
        database_url=cluster_db,
        data_dir=cluster_dir / "data",
        model_dir=worker_sd_dir,
        settings=settings,
        scorer_dir=tiny_clip_dir,
    )
    worker = WorkerProcess(env=env, log_path=cluster_dir / "worker.log").start()
    try:
        worker.wait_ready(redis_url, module_namespace)
        yield worker
    finally:
        worker.stop()


@pytest.fixture
async def cluster_sessions(cluster_db: str) -> AsyncIterator[Sessions]:
    """The bot side's session factory on the shared database."""
    engine = create_engine(cluster_db)
    try:
        yield session_factory(engine)
    finally:
        await engine.dispose()


@pytest.fixture
async def bot(
    cluster_worker: WorkerProcess,
    cluster_sessions: Sessions,
    cluster_dir: Path,
    redis_url: str,
    module_namespace: str,
) -> AsyncIterator[CeleryQueue]:
    """A bot's CeleryQueue talking to the module's worker."""
    service = submitter_service(cluster_sessions, cluster_dir / "data" / "outputs")
    queue = CeleryQueue(
        service, settings=queue_settings(redis_url, module_namespace), reconcile_s=1.0
    )
    await queue.start()
    yield queue
    await queue.close()


async def test_round_trip_with_positions_and_progress(
    bot: CeleryQueue, cluster_sessions: Sessions, cluster_worker: WorkerProcess
) -> None:
    """A job behind another hears its place, the worker's steps and its end, then gets its file."""
    first = await bot.submit(request(1))
    second = await bot.submit(request(2))
    assert (first.position, second.position) == (0, 1)
    events = await collect(bot, second.generation_id)
    kinds = [e.kind for e in events]
    assert kinds[0] == "queued"
    assert events[0].position == 1
    positions = [e.position for e in events if e.kind == "queued"]
    assert positions == sorted(positions, reverse=True)
    assert kinds[-1] == "done"
    assert kinds.index("started") < kinds.index("progress")
    steps = [(e.step, e.total) for e in events if e.stage == "generating"]
    assert steps == [(1, 2), (2, 2)]
    for handle in (first, second):
        result = await asyncio.wait_for(bot.result(handle.generation_id), WAIT_S)
        assert result.output_path.is_file()
        assert "z" in result.candidates[0]  # the worker scored them
        row = await row_of(cluster_sessions, handle.generation_id)
        assert (row.status, row.attempts) == ("done", 1)
        assert f":{cluster_worker.pid}:" in row.worker_id
        assert set(row.timings) >= {"generation", "postprocess"}


async def test_double_submit_runs_once(bot: CeleryQueue, cluster_sessions: Sessions) -> None:
    """The same job_key is one job with one task id, run once, even when sent again."""
    first = await bot.submit(request(3, job_key="interaction-3"))
    again = await bot.submit(request(3, job_key="interaction-3"))
    assert again.generation_id == first.generation_id
    assert (first.created, again.created) == (True, False)
    result = await asyncio.wait_for(bot.result(first.generation_id), WAIT_S)
    late = await bot.submit(request(3, job_key="interaction-3"))
    assert (late.created, late.position) == (False, 0)
    assert (await bot.result(late.generation_id)).output_key == result.output_key
    assert (await row_of(cluster_sessions, first.generation_id)).attempts == 1
    assert task_id_for(first.generation_id) == f"pmg-generation-{first.generation_id}"


async def test_failing_job_stops_after_max_attempts(
    bot: CeleryQueue, cluster_sessions: Sessions, cluster_dir: Path
) -> None:
    """A job that fails on every worker run stops after max_attempts with its error stored."""
    block_outputs(cluster_dir / "data" / "outputs", 404)
    handle = await bot.submit(request(4, user_id=404))
    with pytest.raises(JobFailed, match="could not be made"):
        await asyncio.wait_for(bot.result(handle.generation_id), WAIT_S)
    row = await row_of(cluster_sessions, handle.generation_id)
    assert (row.status, row.attempts) == ("failed", 2)
    assert row.error.startswith("FileExistsError")


async def test_cancel_a_queued_job(bot: CeleryQueue, cluster_sessions: Sessions) -> None:
    """A job cancelled while it waits is dropped by the worker that receives it."""
    first = await bot.submit(request(5))
    second = await bot.submit(request(6))
    assert await bot.cancel(second.generation_id)
    with pytest.raises(JobCancelled):
        await bot.result(second.generation_id)
    await asyncio.wait_for(bot.result(first.generation_id), WAIT_S)
    third = await bot.submit(request(7))  # the worker has taken the cancelled message by now
    await asyncio.wait_for(bot.result(third.generation_id), WAIT_S)
    row = await row_of(cluster_sessions, second.generation_id)
    assert (row.status, row.attempts, row.worker_id) == ("cancelled", 0, None)


async def test_restarted_bot_delivers_jobs_of_the_old_one(
    cluster_worker: WorkerProcess,
    cluster_sessions: Sessions,
    cluster_dir: Path,
    redis_url: str,
    module_namespace: str,
) -> None:
    """A new bot's resume_pending picks up the old bot's jobs, even ones Redis never got."""
    settings = queue_settings(redis_url, module_namespace)
    service = submitter_service(cluster_sessions, cluster_dir / "data" / "outputs")
    old = CeleryQueue(service, settings=settings, reconcile_s=1.0)
    await old.start()
    sent = [(await old.submit(request(10 + n))).generation_id for n in range(3)]
    await old.close()
    # Recorded, but its message was lost (Redis restarted without its data, say).
    lost, _ = await service.submit(request(20))
    new = CeleryQueue(service, settings=settings, reconcile_s=1.0)
    await new.start()
    try:
        resumed = await new.resume_pending()
        assert lost in resumed
        assert set(resumed) <= {*sent, lost}
        for generation_id in [*sent, lost]:
            result = await asyncio.wait_for(new.result(generation_id), WAIT_S)
            assert result.output_path.is_file()
            assert (await row_of(cluster_sessions, generation_id)).attempts == 1
    finally:
        await new.close()


# -- faults with their own workers and databases -------------------------------------------------


async def test_redis_down_fails_the_submit_clearly(
    tmp_path: Path, sqlite_sessions: Sessions, caplog: pytest.LogCaptureFixture
) -> None:
    """With Redis unreachable, submit raises one sentence and the row says why it failed."""
    settings = queue_settings("redis://127.0.0.1:1/0", new_namespace())
    queue = CeleryQueue(submitter_service(sqlite_sessions, tmp_path / "outputs"), settings=settings)
    await queue.start()
    try:
        with pytest.raises(QueueUnavailable) as caught:
            await asyncio.wait_for(queue.submit(request(1)), 20)
        message = str(caught.value)
        assert "cannot be reached" in message
        assert "127.0.0.1" not in message  # the host is in the log, not in front of users
        assert "Redis at 127.0.0.1:1 is unreachable" in caplog.text
        assert "\n" not in message
        async with sqlite_sessions() as session:
            rows = await session.scalars(select(Generation))
            (row,) = rows.all()
        assert row.status == "failed"
        assert row.error.startswith("QueueUnavailable: ")
        with pytest.raises(JobFailed, match="cannot be reached"):
            await queue.result(row.id)
    finally:
        await queue.close()


async def test_worker_killed_mid_job_is_finished_by_the_next_worker(
    tmp_path: Path,
    redis_url: str,
    namespace: str,
    worker_sd_dir: Path,
) -> None:
    """SIGKILL a worker mid-job: the message stays unacknowledged and a new worker finishes it."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'shared.sqlite3'}"
    await migrate.upgrade(url)
    settings = queue_settings(redis_url, namespace)
    # Many steps: the job runs for seconds, long enough to be killed in the middle.
    env = worker_env(
        database_url=url,
        data_dir=tmp_path / "data",
        model_dir=worker_sd_dir,
        settings=settings,
        steps=200,
    )
    engine = create_engine(url)
    sessions = session_factory(engine)
    queue = CeleryQueue(
        submitter_service(sessions, tmp_path / "data" / "outputs"),
        settings=settings,
        reconcile_s=1.0,
    )
    first = WorkerProcess(env=env, log_path=tmp_path / "first.log").start()
    second = WorkerProcess(env=env, log_path=tmp_path / "second.log")
    await queue.start()
    try:
        first_id = await asyncio.to_thread(first.wait_ready, redis_url, namespace)
        handle = await queue.submit(request(1))
        watcher = asyncio.create_task(collect(queue, handle.generation_id))
        async with asyncio.timeout(WAIT_S):
            async for event in queue.events(handle.generation_id):
                if event.stage == "generating":
                    break
        first.kill()
        row = await row_of(sessions, handle.generation_id)
        assert (row.status, row.attempts, row.worker_id) == ("running", 1, first_id)
        # task_acks_late: the killed worker's message is still waiting to be acknowledged.
        client = redis.Redis.from_url(redis_url)
        try:
            unacked = client.hvals(RedisKeys(namespace).celery_prefix + "unacked")
        finally:
            client.close()
        task_ids = [json.loads(raw)[0]["headers"]["id"] for raw in unacked]
        assert task_id_for(handle.generation_id) in task_ids
        second.start()
        result = await asyncio.wait_for(queue.result(handle.generation_id), WAIT_S)
        assert result.output_path.is_file()
        row = await row_of(sessions, handle.generation_id)
        assert (row.status, row.attempts) == ("done", 2)
        assert f":{second.pid}:" in row.worker_id
        events = await asyncio.wait_for(watcher, WAIT_S)
        assert [e.kind for e in events].count("started") == 2
        assert events[-1].kind == "done"
    except BaseException:
        print("first worker:\n", first.output(), "\nsecond worker:\n", second.output())  # noqa: T201 (pytest shows it beside the failure)
        raise
    finally:
        await queue.close()
        first.stop()
        second.stop()
        await engine.dispose()


async def test_job_of_a_killed_worker_keeps_its_place(
    tmp_path: Path,
    redis_url: str,
    namespace: str,
    worker_sd_dir: Path,
) -> None:
    """SIGKILL mid-job: the next worker runs that job first, before the ones queued after it."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'shared.sqlite3'}"
    await migrate.upgrade(url)
    settings = queue_settings(redis_url, namespace)
    env = worker_env(
        database_url=url,
        data_dir=tmp_path / "data",
        model_dir=worker_sd_dir,
        settings=settings,
        steps=100,
    )
    engine = create_engine(url)
    sessions = session_factory(engine)
    queue = CeleryQueue(
        submitter_service(sessions, tmp_path / "data" / "outputs"),
        settings=settings,
        reconcile_s=1.0,
    )
    first = WorkerProcess(env=env, log_path=tmp_path / "first.log").start()
    second = WorkerProcess(env=env, log_path=tmp_path / "second.log")
    await queue.start()
    try:
        await asyncio.to_thread(first.wait_ready, redis_url, namespace)
        handles = [await queue.submit(request(n)) for n in range(3)]
        async with asyncio.timeout(WAIT_S):
            async for event in queue.events(handles[0].generation_id):
                if event.stage == "generating":
                    break
        first.kill()
        second.start()
        for handle in handles:
            await asyncio.wait_for(queue.result(handle.generation_id), WAIT_S * 2)
        rows = [await row_of(sessions, h.generation_id) for h in handles]
        assert [row.attempts for row in rows] == [2, 1, 1]
        started = [row.started_at for row in rows]
        assert started == sorted(started)  # the interrupted job ran before the others
    except BaseException:
        print("first worker:\n", first.output(), "\nsecond worker:\n", second.output())  # noqa: T201 (pytest shows it beside the failure)
        raise
    finally:
        await queue.close()
        first.stop()
        second.stop()
        await engine.dispose()
