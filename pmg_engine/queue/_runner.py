"""Run one job where the models live: claim the row, run the service, decide what comes next.

Shared by the in-process worker thread and the Celery worker, so both follow the same rules:
the row is claimed by compare-and-set, a crash or an unexpected error is retried until
``max_attempts`` runs have started, expected errors (``PMGError``) fail at once, and a job
stops at its next step when it is cancelled, times out or the process shuts down.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from pmg_engine.errors import NotFoundError, PMGError
from pmg_engine.queue import jobs
from pmg_engine.queue.base import JobCancelled, JobEvent
from pmg_engine.service import GenerationFailed, PMGService, Progress

log = logging.getLogger(__name__)

OutcomeKind = Literal["done", "failed", "cancelled", "retry", "busy", "interrupted", "gone"]
StopReason = Literal["cancel", "shutdown"]
Emit = Callable[[JobEvent], None]
StopCheck = Callable[[], StopReason | None]


class JobTimedOut(PMGError):
    """The job ran past ``job_timeout_s`` and was stopped at its next step."""


class _Interrupted(PMGError):
    # A PMGError so that the service re-raises it as it is instead of wrapping it.
    """The process is shutting down; the job goes back to the queue."""


@dataclass(frozen=True)
class Outcome:
    """How a run ended and what the queue does next (``error`` is safe to show)."""

    generation_id: int
    kind: OutcomeKind
    error: str | None = None


def _no_stop() -> StopReason | None:
    return None


class JobRunner:
    """Runs recorded jobs through the service, one at a time, under the queue's rules."""

    def __init__(self, *, service: PMGService, max_attempts: int, job_timeout_s: float) -> None:
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {max_attempts}")
        if job_timeout_s <= 0:
            raise ValueError(f"job_timeout_s must be positive, got {job_timeout_s}")
        self.service = service
        self.max_attempts = max_attempts
        self.job_timeout_s = job_timeout_s

    async def execute(
        self,
        generation_id: int,
        *,
        worker_id: str,
        emit: Emit,
        stop_requested: StopCheck = _no_stop,
        is_alive: jobs.IsAlive = jobs.never_alive,
    ) -> Outcome:
        """Claim and run one job; events go to ``emit`` (from this and the model thread)."""
        sessions = self.service.sessions
        # 1. Claim the row: a finished job only repeats its end, a job owned by a live worker is
        # left alone, and one that crashed its worker too often fails here.
        claim = await jobs.claim(
            sessions=sessions,
            generation_id=generation_id,
            worker_id=worker_id,
            max_attempts=self.max_attempts,
            is_alive=is_alive,
        )
        if claim.kind == "gone":
            log.warning("generation %s no longer exists; dropping its job", generation_id)
            return Outcome(generation_id, "gone")
        if claim.kind == "busy":
            return Outcome(generation_id, "busy")
        if claim.kind in ("final", "gave_up"):
            row = await jobs.status_of(sessions=sessions, generation_id=generation_id)
            event = jobs.final_event(row)
            if claim.kind == "gave_up":
                log.error("generation %s: %s", generation_id, claim.error)
            if event is not None:
                emit(event)
            if event is None or event.kind == "failed":
                error = event.error if event is not None else jobs.FAILED_MESSAGE
                return Outcome(generation_id, "failed", error)
            return Outcome(generation_id, "cancelled" if event.kind == "cancelled" else "done")

        # 2. Run it; the progress callback runs in the model thread at every stage and step,
        # which makes it the one place a running job can be stopped.
        emit(JobEvent(generation_id, "started"))
        deadline = time.monotonic() + self.job_timeout_s

        def on_progress(progress: Progress) -> None:
            reason = stop_requested()
            if reason == "cancel":
                raise JobCancelled(jobs.CANCELLED_MESSAGE)
            if reason == "shutdown":
                raise _Interrupted("the worker is shutting down")
            if time.monotonic() > deadline:
                raise JobTimedOut(
                    f"the job took longer than {self.job_timeout_s:.0f} s and was stopped"
                )
            emit(
                JobEvent(
                    generation_id,
                    "progress",
                    stage=progress.stage,
                    step=progress.step,
                    total=progress.total,
                )
            )

        try:
            finished = await self.service.draw(generation_id, on_progress=on_progress)
        except JobCancelled:
            await jobs.cancel_running(sessions=sessions, generation_id=generation_id)
            emit(JobEvent(generation_id, "cancelled"))
            return Outcome(generation_id, "cancelled")
        except _Interrupted:
            await jobs.release(sessions=sessions, generation_id=generation_id)
            return Outcome(generation_id, "interrupted")
        except GenerationFailed as exc:
            # 3. An unexpected error: try again while attempts are left, since it may be
            # passing (a full disk, a busy GPU). The row keeps its cause for admins.
            error = jobs.describe(exc)
            if claim.attempts < self.max_attempts and await jobs.retry(
                sessions=sessions, generation_id=generation_id, error=error
            ):
                log.warning(
                    "generation %s failed (attempt %s of %s), retrying: %s",
                    generation_id,
                    claim.attempts,
                    self.max_attempts,
                    error,
                )
                return Outcome(generation_id, "retry", str(exc))
            await jobs.fail(sessions=sessions, generation_id=generation_id, error=error)
            emit(JobEvent(generation_id, "failed", error=str(exc)))
            return Outcome(generation_id, "failed", str(exc))
        except PMGError as exc:
            # Expected errors (no generator, bad input, timeout) would fail the same way again.
            await jobs.fail(
                sessions=sessions, generation_id=generation_id, error=jobs.describe(exc)
            )
            emit(JobEvent(generation_id, "failed", error=str(exc)))
            return Outcome(generation_id, "failed", str(exc))
        # 4. Store the result; the row may have moved meanwhile (an admin requeued or erased
        # it), and then it says how the job ended.
        if not await jobs.finish(sessions=sessions, generation_id=generation_id, result=finished):
            return await self._ended(generation_id, emit)
        emit(JobEvent(generation_id, "done"))
        return Outcome(generation_id, "done")

    async def _ended(self, generation_id: int, emit: Emit) -> Outcome:
        """Report how a job that is no longer this run's ended."""
        try:
            row = await jobs.status_of(sessions=self.service.sessions, generation_id=generation_id)
        except NotFoundError:
            log.warning("generation %s was erased while it ran", generation_id)
            return Outcome(generation_id, "gone")
        event = jobs.final_event(row)
        if event is None:
            log.warning("generation %s was queued again while it ran", generation_id)
            return Outcome(generation_id, "busy")
        emit(event)
        if event.kind == "failed":
            return Outcome(generation_id, "failed", event.error)
        return Outcome(generation_id, "cancelled" if event.kind == "cancelled" else "done")
