"""The in-process queue with tiny real models on real migrated databases."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from config import QueueSettings
from pmg_engine.db import repo
from pmg_engine.db.types import utcnow
from pmg_engine.queue import JobCancelled, JobEvent, JobFailed
from pmg_engine.queue.inprocess import InProcessQueue
from pmg_engine.service import GenerationRequest, PMGService
from tests.queue.conftest import block_outputs

Sessions = async_sessionmaker[AsyncSession]
FAST = QueueSettings(retry_backoff_s=0.0)


def request(n: int, *, user_id: int = 7, **kw: Any) -> GenerationRequest:
    return GenerationRequest(user_id=user_id, prompt=f"a cat number {n}", seed=n, **kw)


async def row_of(sessions: Sessions, generation_id: int) -> Any:
    async with sessions() as session:
        return await repo.get_generation(session=session, generation_id=generation_id)


async def collect(queue: InProcessQueue, generation_id: int) -> list[JobEvent]:
    return [event async for event in queue.events(generation_id)]


async def first_step(queue: InProcessQueue, generation_id: int) -> JobEvent:
    async for event in queue.events(generation_id):
        if event.stage == "generating":
            return event
    raise AssertionError(f"generation {generation_id} ended before its first step")


@pytest.fixture
async def running() -> AsyncIterator[list[InProcessQueue]]:
    """Queues a test starts; closed after it whatever happens."""
    queues: list[InProcessQueue] = []
    yield queues
    for queue in queues:
        await queue.close()


async def started(queues: list[InProcessQueue], service: PMGService, **kw: Any) -> InProcessQueue:
    queue = InProcessQueue(service, settings=kw.pop("settings", FAST), **kw)
    await queue.start()
    queues.append(queue)
    return queue


async def test_round_trip_with_positions_and_progress(
    sessions: Sessions, make_service: Any, running: list[InProcessQueue]
) -> None:
    """Three jobs run in order; the last one reports its place, each step, and its file."""
    queue = await started(running, make_service(sessions))
    handles = [await queue.submit(request(n)) for n in range(3)]
    assert [h.position for h in handles] == [0, 1, 2]
    assert all(h.created for h in handles)
    events = await collect(queue, handles[2].generation_id)
    kinds = [e.kind for e in events]
    assert kinds[:3] == ["queued", "queued", "started"]
    assert [e.position for e in events[:2]] == [2, 1]
    assert kinds[-1] == "done"
    steps = [(e.step, e.total) for e in events if e.stage == "generating"]
    assert steps == [(1, 2), (2, 2)]
    for handle in handles:
        result = await queue.result(handle.generation_id)
        assert result.output_path.is_file()
        row = await row_of(sessions, handle.generation_id)
        assert (row.status, row.attempts, row.worker_id) == ("done", 1, queue.worker_id)
        assert row.output_key == result.output_key


async def test_event_loop_stays_responsive_during_a_long_job(
    sqlite_sessions: Sessions, make_service: Any, running: list[InProcessQueue]
) -> None:
    """The worker thread never blocks the bot's loop for 0.5 s while it is busy for 1.5 s."""
    # The worker is kept busy for at least 1.5 s of loop time by submitting jobs back to back
    # until that much has passed, so the window does not depend on how fast this machine is.
    queue = await started(running, make_service(sqlite_sessions, num_inference_steps=50))
    loop = asyncio.get_running_loop()
    gaps: list[float] = []

    async def tick() -> None:
        last = loop.time()
        while True:
            await asyncio.sleep(0.01)
            now = loop.time()
            gaps.append(now - last)
            last = now

    ticker = asyncio.create_task(tick())
    began = loop.time()
    jobs = 0
    while loop.time() - began < 1.5:
        handle = await queue.submit(request(100 + jobs))
        await queue.result(handle.generation_id)
        jobs += 1
    duration = loop.time() - began
    ticker.cancel()
    assert jobs >= 1
    assert len(gaps) > 10
    assert max(gaps) < 0.5, (
        f"the loop was blocked {max(gaps):.3f} s during {jobs} jobs ({duration:.1f} s)"
    )


async def test_cancel_a_queued_job(
    sqlite_sessions: Sessions, make_service: Any, running: list[InProcessQueue]
) -> None:
    """A job cancelled while it waits never runs, and its waiter hears so."""
    queue = await started(running, make_service(sqlite_sessions, num_inference_steps=40))
    first = await queue.submit(request(1))
    second = await queue.submit(request(2))
    assert await queue.cancel(second.generation_id)
    with pytest.raises(JobCancelled):
        await queue.result(second.generation_id)
    await queue.result(first.generation_id)
    row = await row_of(sqlite_sessions, second.generation_id)
    assert (row.status, row.attempts, row.output_key) == ("cancelled", 0, None)
    assert not await queue.cancel(first.generation_id)  # done: nothing to cancel


async def test_cancel_a_running_job_stops_it_at_the_next_step(
    sqlite_sessions: Sessions, make_service: Any, running: list[InProcessQueue]
) -> None:
    """A running job stops within a step of being cancelled and is recorded as cancelled."""
    queue = await started(running, make_service(sqlite_sessions, num_inference_steps=400))
    handle = await queue.submit(request(1))
    await first_step(queue, handle.generation_id)
    assert await queue.cancel(handle.generation_id)
    events = await collect(queue, handle.generation_id)
    assert events[-1].kind == "cancelled"
    with pytest.raises(JobCancelled):
        await queue.result(handle.generation_id)
    row = await row_of(sqlite_sessions, handle.generation_id)
    assert (row.status, row.error, row.output_key) == ("cancelled", None, None)


async def test_failing_job_stops_after_max_attempts(
    sqlite_sessions: Sessions, make_service: Any, running: list[InProcessQueue], tmp_path: Path
) -> None:
    """A job that fails every time runs exactly max_attempts times; the error is stored."""
    block_outputs(tmp_path / "outputs", 7)
    queue = await started(running, make_service(sqlite_sessions))
    handle = await queue.submit(request(1))
    with pytest.raises(JobFailed, match="could not be made"):
        await queue.result(handle.generation_id)
    row = await row_of(sqlite_sessions, handle.generation_id)
    assert (row.status, row.attempts) == ("failed", FAST.max_attempts)
    assert row.error.startswith("FileExistsError")


async def test_job_past_its_timeout_is_stopped(
    sqlite_sessions: Sessions, make_service: Any, running: list[InProcessQueue]
) -> None:
    """A job running past job_timeout_s stops at its next step and fails, not retried."""
    settings = QueueSettings(job_timeout_s=0.3, retry_backoff_s=0.0)
    queue = await started(
        running, make_service(sqlite_sessions, num_inference_steps=400), settings=settings
    )
    handle = await queue.submit(request(1))
    with pytest.raises(JobFailed, match="longer than 0 s"):
        await queue.result(handle.generation_id)
    row = await row_of(sqlite_sessions, handle.generation_id)
    assert (row.status, row.attempts) == ("failed", 1)
    assert row.error.startswith("JobTimedOut")


async def test_double_submit_runs_once(
    sqlite_sessions: Sessions, make_service: Any, running: list[InProcessQueue]
) -> None:
    """The same job_key gives the same job, run once, before and after it finished."""
    queue = await started(running, make_service(sqlite_sessions))
    first = await queue.submit(request(1, job_key="interaction-1"))
    again = await queue.submit(request(1, job_key="interaction-1"))
    assert again.generation_id == first.generation_id
    assert (first.created, again.created) == (True, False)
    result = await queue.result(first.generation_id)
    late = await queue.submit(request(1, job_key="interaction-1"))
    assert (late.generation_id, late.created, late.position) == (first.generation_id, False, 0)
    assert (await queue.result(late.generation_id)).output_key == result.output_key
    assert (await row_of(sqlite_sessions, first.generation_id)).attempts == 1


async def test_restart_resumes_queued_and_running_jobs(
    sqlite_sessions: Sessions, make_service: Any, running: list[InProcessQueue]
) -> None:
    """Jobs a dead process left queued or running are run by the next one, oldest first."""
    service = make_service(sqlite_sessions)
    queued, _ = await service.submit(request(1))
    crashed, _ = await service.submit(request(2))
    async with sqlite_sessions() as session, session.begin():
        row = await repo.get_generation(session=session, generation_id=crashed)
        row.status, row.attempts, row.worker_id = "running", 1, "inprocess@old-host:1"
        row.started_at = utcnow()
    queue = await started(running, service)
    assert await queue.resume_pending() == [queued, crashed]
    for generation_id in (queued, crashed):
        assert (await queue.result(generation_id)).output_path.is_file()
    assert (await row_of(sqlite_sessions, queued)).attempts == 1
    assert (await row_of(sqlite_sessions, crashed)).attempts == 2
    assert await queue.resume_pending() == []


async def test_job_that_keeps_crashing_its_worker_gives_up(
    sqlite_sessions: Sessions, make_service: Any, running: list[InProcessQueue]
) -> None:
    """A job left running after max_attempts starts fails instead of running again."""
    service = make_service(sqlite_sessions)
    generation_id, _ = await service.submit(request(1))
    async with sqlite_sessions() as session, session.begin():
        row = await repo.get_generation(session=session, generation_id=generation_id)
        row.status, row.attempts, row.worker_id = "running", FAST.max_attempts, "inprocess@old:1"
    queue = await started(running, service)
    await queue.resume_pending()
    with pytest.raises(JobFailed):
        await queue.result(generation_id)
    row = await row_of(sqlite_sessions, generation_id)
    assert (row.status, row.attempts) == ("failed", FAST.max_attempts)
    assert row.error.startswith(f"gave up after {FAST.max_attempts} attempts")


async def test_close_hands_unfinished_jobs_to_the_next_start(
    sqlite_sessions: Sessions, make_service: Any, running: list[InProcessQueue]
) -> None:
    """Closing mid-job stops it without counting the attempt; a new queue finishes both."""
    service = make_service(sqlite_sessions, num_inference_steps=400)
    queue = InProcessQueue(service, settings=FAST)
    await queue.start()
    first = await queue.submit(request(1))
    second = await queue.submit(request(2))
    await first_step(queue, first.generation_id)
    await queue.close()
    for handle in (first, second):
        row = await row_of(sqlite_sessions, handle.generation_id)
        assert (row.status, row.attempts) == ("queued", 0)
    queue = await started(running, make_service(sqlite_sessions))
    assert await queue.resume_pending() == [first.generation_id, second.generation_id]
    for handle in (first, second):
        await queue.result(handle.generation_id)
        assert (await row_of(sqlite_sessions, handle.generation_id)).attempts == 1
