"""The job state machine: the transition table and its functions on real migrated databases."""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import update
from sqlalchemy.exc import StatementError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pmg_engine.db import repo
from pmg_engine.db.models import Generation
from pmg_engine.errors import InvalidInputError
from pmg_engine.queue import jobs
from pmg_engine.service import GenerationRequest
from pmg_engine.states import JobStatus, Kind

Sessions = async_sessionmaker[AsyncSession]
Q, R, D, F, C = (
    JobStatus.QUEUED,
    JobStatus.RUNNING,
    JobStatus.DONE,
    JobStatus.FAILED,
    JobStatus.CANCELLED,
)
EXPECTED = {
    (Q, R), (Q, C), (Q, F), (Q, Q),
    (R, D), (R, F), (R, C), (R, Q), (R, R),
    (F, Q),
    (C, Q),
}  # fmt: skip
FINISHED = jobs.Finished(
    output_key="1/x.png",
    target_keywords=["cat"],
    preference_keywords=["pastel"],
    candidates=[{"z": 0.5}],
    selected_index=0,
    model_id="tiny",
    profile_id=None,
)
_keys = itertools.count()


async def row_in(sessions: Sessions, status: JobStatus) -> int:
    """Record a job and put it in ``status`` directly (the test's setup, not a transition)."""
    async with sessions() as session, session.begin():
        await repo.upsert_user(session=session, user_id=5, name="sam")
        row, _ = await repo.create_generation(
            session=session,
            job_key=f"fsm-{next(_keys)}",
            user_id=5,
            prompt="a cat",
            personalization_weight=0.5,
            seed=1,
        )
        await session.execute(
            update(Generation)
            .where(Generation.id == row.id)
            .values(status=status, attempts=1, worker_id="inprocess@gone:1")
        )
        return row.id


async def status(sessions: Sessions, generation_id: int) -> JobStatus:
    return (await jobs.status_of(sessions=sessions, generation_id=generation_id)).status


def test_the_table_holds_exactly_the_documented_transitions() -> None:
    """The allowed moves are pending -> running -> done | failed | cancelled, and retry."""
    table = {(s, t) for s, targets in jobs.TRANSITIONS.items() for t in targets}
    assert table == EXPECTED
    assert set(jobs.TRANSITIONS) == set(JobStatus)


async def test_every_allowed_move_works_and_every_other_is_refused(sessions: Sessions) -> None:
    """``move`` takes each pair the table allows and refuses the rest without touching the row."""
    for source, target in itertools.product(JobStatus, repeat=2):
        generation_id = await row_in(sessions, source)
        async with sessions() as session, session.begin():
            if (source, target) in EXPECTED:
                assert await jobs.move(session, generation_id, source=source, target=target)
            else:
                with pytest.raises(jobs.IllegalTransition):
                    await jobs.move(session, generation_id, source=source, target=target)
        expected = target if (source, target) in EXPECTED else source
        assert await status(sessions, generation_id) == expected, (source, target)


async def test_a_move_from_a_status_the_row_left_changes_nothing(sessions: Sessions) -> None:
    """A compare-and-set whose source is stale returns False and leaves the row as it is."""
    generation_id = await row_in(sessions, Q)
    async with sessions() as session, session.begin():
        assert not await jobs.move(session, generation_id, source=R, target=D)
    assert await status(sessions, generation_id) == Q


Transition = Callable[[Sessions, int], Awaitable[Any]]


async def _claim(sessions: Sessions, generation_id: int) -> bool:
    claim = await jobs.claim(
        sessions=sessions, generation_id=generation_id, worker_id="w", max_attempts=5
    )
    return claim.kind == "claimed"


async def _requeue(sessions: Sessions, generation_id: int) -> bool:
    async with sessions() as session, session.begin():
        try:
            await jobs.requeue(session=session, generation_id=generation_id)
        except jobs.NothingToRequeue:
            return False
    return True


FUNCTIONS: dict[str, tuple[Transition, set[JobStatus], JobStatus]] = {
    "claim": (_claim, {Q, R}, R),
    "finish": (
        lambda s, i: jobs.finish(sessions=s, generation_id=i, result=FINISHED),
        {R},
        D,
    ),
    "fail": (lambda s, i: jobs.fail(sessions=s, generation_id=i, error="boom"), {R}, F),
    "retry": (lambda s, i: jobs.retry(sessions=s, generation_id=i, error="boom"), {R}, Q),
    "release": (lambda s, i: jobs.release(sessions=s, generation_id=i), {R}, Q),
    "cancel_queued": (lambda s, i: jobs.cancel_queued(sessions=s, generation_id=i), {Q}, C),
    "cancel_running": (lambda s, i: jobs.cancel_running(sessions=s, generation_id=i), {R}, C),
    "fail_unsent": (
        lambda s, i: jobs.fail_unsent(sessions=s, generation_id=i, error="no broker"),
        {Q},
        F,
    ),
    "requeue": (_requeue, {Q, R, F, C}, Q),
}


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
async def test_each_transition_function_moves_only_from_its_sources(
    sessions: Sessions, name: str
) -> None:
    """Each function moves the row from its own sources to its target and from nowhere else."""
    function, sources, target = FUNCTIONS[name]
    assert all((s, target) in EXPECTED for s in sources)
    for source in JobStatus:
        generation_id = await row_in(sessions, source)
        moved = await function(sessions, generation_id)
        assert bool(moved) == (source in sources), (name, source)
        assert await status(sessions, generation_id) == (target if moved else source)


async def test_claim_counts_the_attempt_and_finish_stores_the_result(sessions: Sessions) -> None:
    """Starting counts one attempt and stamps the start; finishing stores the result with done."""
    generation_id = await row_in(sessions, Q)
    claim = await jobs.claim(
        sessions=sessions, generation_id=generation_id, worker_id="w1", max_attempts=3
    )
    assert (claim.kind, claim.attempts) == ("claimed", 2)
    row = await jobs.status_of(sessions=sessions, generation_id=generation_id)
    assert (row.status, row.attempts, row.worker_id) == (R, 2, "w1")
    assert row.started_at is not None
    assert await jobs.finish(sessions=sessions, generation_id=generation_id, result=FINISHED)
    row = await jobs.status_of(sessions=sessions, generation_id=generation_id)
    assert (row.status, row.output_key, row.selected_index, row.error) == (D, "1/x.png", 0, None)
    assert row.finished_at is not None


async def test_a_retry_goes_straight_back_to_queued_with_its_error(sessions: Sessions) -> None:
    """A retried run is never seen as failed: the row goes running -> queued, keeping why."""
    generation_id = await row_in(sessions, R)
    assert await jobs.retry(sessions=sessions, generation_id=generation_id, error="OSError: full")
    row = await jobs.status_of(sessions=sessions, generation_id=generation_id)
    assert (row.status, row.error, row.worker_id) == (Q, "OSError: full", None)


async def test_status_and_kind_come_back_as_enums_and_bad_values_never_reach_the_row(
    sessions: Sessions,
) -> None:
    """The columns return ``JobStatus`` / ``Kind``; a value outside them raises before writing."""
    generation_id = await row_in(sessions, Q)
    row = await jobs.status_of(sessions=sessions, generation_id=generation_id)
    assert row.status is JobStatus.QUEUED
    assert row.kind is Kind.STICKER
    async with sessions() as session:
        with pytest.raises(StatementError, match="is not a valid JobStatus"):
            await session.execute(
                update(Generation).where(Generation.id == generation_id).values(status="paused")
            )
    assert await status(sessions, generation_id) == Q


async def test_a_bad_kind_is_refused_once_at_submit(sessions: Sessions, make_service: Any) -> None:
    """A request for a kind that does not exist is refused with a sentence and stores nothing."""
    service = make_service(sessions)
    bad = GenerationRequest(user_id=5, prompt="a cat", kind="gif")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="kind must be sticker or image, got 'gif'"):
        await service.submit(bad)
    assert await jobs.pending(sessions=sessions) == []
    checked = service.validate(GenerationRequest(user_id=5, prompt="a  cat", kind="image"))  # type: ignore[arg-type]
    assert checked.kind is Kind.IMAGE
    assert service.validate(checked) == checked


async def test_the_service_draws_and_leaves_the_status_to_the_jobs_module(
    sessions: Sessions, make_service: Any
) -> None:
    """``draw`` reports a result but writes no status; ``finish`` makes the row done."""
    service = make_service(sessions)
    generation_id, _ = await service.submit(GenerationRequest(user_id=5, prompt="a cat", seed=2))
    await jobs.claim(sessions=sessions, generation_id=generation_id, worker_id="w", max_attempts=1)
    finished = await service.draw(generation_id)
    row = await jobs.status_of(sessions=sessions, generation_id=generation_id)
    assert (row.status, row.output_key) == (R, None)
    assert (service.config.outputs_dir / finished.output_key).is_file()
    assert await jobs.finish(sessions=sessions, generation_id=generation_id, result=finished)
    assert await status(sessions, generation_id) == D
