"""The job-queue contract between the bot / local chat and the place where generation runs.

Two implementations: an in-process queue (the embedded default: one worker thread owns the
models) and Celery on Redis (scale-out GPU workers). The generation row in SQL is the source of
truth; a queue message carries only its id (DESIGN.md section 4).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

from pmg_engine.errors import PMGError

if TYPE_CHECKING:
    from pmg_engine.queue.jobs import Owed
    from pmg_engine.service import GenerationRequest, GenerationResult

EventKind = Literal["queued", "started", "progress", "done", "failed", "cancelled"]


class QueueUnavailable(PMGError):
    """The queue cannot take the job now (e.g. the broker is down); the request row is kept."""


class JobFailed(PMGError):
    """The job ended without a result; the message is safe to show to the user."""


class JobCancelled(PMGError):
    """The job was cancelled before it finished."""


@dataclass(frozen=True)
class JobHandle:
    """A submitted job: its generation id, whether this call created it, its queue position."""

    generation_id: int
    created: bool
    position: int


@dataclass(frozen=True)
class JobEvent:
    """A change in a job's state: queue position, denoising step, or its end."""

    generation_id: int
    kind: EventKind
    position: int | None = None
    step: int | None = None
    total: int | None = None
    stage: str | None = None
    error: str | None = None

    @property
    def final(self) -> bool:
        """Whether no event follows this one."""
        return self.kind in ("done", "failed", "cancelled")


class JobQueue(Protocol):
    """Submit generations, await their results, stream their progress, cancel them."""

    async def start(self) -> None:
        """Start workers / connections (nothing happens at construction)."""
        ...

    async def close(self) -> None:
        """Stop cleanly; queued jobs stay recorded and are picked up after a restart."""
        ...

    async def submit(self, request: GenerationRequest) -> JobHandle:
        """Record and enqueue a generation; the same ``job_key`` never runs twice."""
        ...

    async def result(self, generation_id: int) -> GenerationResult:
        """Wait for the job's result (bound it with ``asyncio.timeout``); raise ``JobFailed``
        or ``JobCancelled`` when it ends without one."""
        ...

    def events(self, generation_id: int) -> AsyncIterator[JobEvent]:
        """Yield the job's events until a final one (done, failed or cancelled)."""
        ...

    async def cancel(self, generation_id: int) -> bool:
        """Cancel a job that has not finished; return whether it was cancelled."""
        ...

    async def resume_pending(self) -> list[int]:
        """Re-enqueue or re-attach to jobs left queued or running (after a restart)."""
        ...

    async def owed(self) -> list[Owed]:
        """Return the jobs from Discord whose result has not reached their user, oldest first."""
        ...

    async def mark_delivered(self, generation_id: int, *, note: str) -> bool:
        """Record a successful delivery of a finished job; return whether this call did."""
        ...

    async def note_delivery(self, generation_id: int, *, note: str) -> None:
        """Record why a delivery attempt failed; the job stays owed."""
        ...
