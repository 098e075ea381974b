"""Job rows: claim, release, cancel, requeue and list them (the row is the source of truth).

Both queues and ``pmg-admin jobs`` change a job's status only here, each change a
compare-and-set on the row, so two workers (or a worker and a cancel) can never both win.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import ColumnElement, and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pmg_engine.db.models import Generation
from pmg_engine.db.types import utcnow
from pmg_engine.errors import NotFoundError, PMGError
from pmg_engine.queue.base import JobEvent

if TYPE_CHECKING:
    pass

FINAL_STATUSES = ("done", "failed", "cancelled")
INTERRUPTED_MESSAGE = "interrupted: the terminal chat that was drawing it stopped"
PENDING_STATUSES = ("queued", "running")
FAILED_MESSAGE = "the sticker could not be made; please try again"
CANCELLED_MESSAGE = "the job was cancelled"

Sessions = async_sessionmaker[AsyncSession]
IsAlive = Callable[[str], Awaitable[bool]]
ClaimKind = Literal["claimed", "final", "busy", "gave_up", "gone"]


class NothingToRequeue(PMGError):
    """The job is done; requeueing it would draw it again."""


@dataclass(frozen=True)
class Claim:
    """The outcome of trying to take a job: run it, or why not."""

    kind: ClaimKind
    status: str = ""
    attempts: int = 0
    error: str | None = None


@dataclass(frozen=True)
class JobRow:
    """One job as ``pmg-admin jobs`` lists it."""

    generation_id: int
    status: str
    attempts: int
    worker_id: str | None
    user_id: int
    kind: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    error: str | None

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-ready dict (datetimes as ISO 8601)."""
        return {
            key: value.isoformat() if isinstance(value, datetime) else value
            for key, value in self.__dict__.items()
        }


def local_worker_id(kind: str) -> str:
    """Return the worker id of a process that runs jobs itself: ``kind@host:pid``."""
    return f"{kind}@{socket.gethostname()}:{os.getpid()}"


def local_owner_alive(worker_id: str | None) -> bool | None:
    """Whether the local process that owns a row still runs; ``None`` when it cannot be told.

    Only ids of the form ``kind@host:pid`` on this host can be checked (by asking the
    operating system about the pid); Celery workers' ids are judged by their liveness keys.
    """
    if worker_id is None or "@" not in worker_id:
        return None
    _, _, place = worker_id.partition("@")
    host, _, pid_text = place.rpartition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return None
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass(frozen=True)
class Reclaimed:
    """What ``reclaim_stale`` did: jobs given back to the queue, and interactive ones failed."""

    requeued: list[int]
    failed: list[int]


async def reclaim_stale(*, sessions: Sessions, own_id: str | None = None) -> Reclaimed:
    """Take back rows left ``running`` by a local process that is gone (call at start).

    ``own_id`` is the caller's worker id: at start nothing of its own runs, so its rows (an
    earlier queue of this same process) are stale too.

    A row of the in-process queue goes back to ``queued`` (its attempt counts, as a crashed
    worker's does), keeping its place, since the queue runs pending rows oldest first. A row
    the terminal chat was drawing (or one with no owner recorded) fails with a sentence: the
    person who asked has left with that process.
    """
    requeued: list[int] = []
    failed: list[int] = []
    async with sessions() as session, session.begin():
        rows = list(await session.scalars(select(Generation).where(Generation.status == "running")))
        for row in rows:
            owner = row.worker_id
            if owner is not None and owner != own_id and local_owner_alive(owner) is not False:
                continue
            same_owner = (
                Generation.worker_id.is_(None) if owner is None else Generation.worker_id == owner
            )
            current = [Generation.status == "running", same_owner]
            if owner is not None and owner.startswith("inprocess@"):
                values: dict[str, Any] = {"status": "queued", "worker_id": None}
                if await _swap(session, row.id, where=current, values=values):
                    requeued.append(row.id)
                continue
            values = {"status": "failed", "error": INTERRUPTED_MESSAGE, "finished_at": utcnow()}
            if await _swap(session, row.id, where=current, values=values):
                failed.append(row.id)
    return Reclaimed(requeued=requeued, failed=failed)


async def never_alive(_worker_id: str) -> bool:
    """Treat every other worker as gone (one process, one worker: the in-process queue)."""
    return False


async def _swap(
    session: AsyncSession,
    generation_id: int,
    *,
    where: Sequence[ColumnElement[bool]],
    values: dict[str, Any],
) -> bool:
    stmt = update(Generation).where(Generation.id == generation_id, *where).values(**values)
    result = await session.execute(stmt.execution_options(synchronize_session=False))
    return bool(getattr(result, "rowcount", 0) == 1)


async def claim(
    *,
    sessions: Sessions,
    generation_id: int,
    worker_id: str,
    max_attempts: int,
    is_alive: IsAlive = never_alive,
) -> Claim:
    """Take the job for ``worker_id`` unless it is finished, owned by a live worker or used up.

    A row left ``running`` by a dead worker is taken over (that is the redelivery after a
    crash); once ``max_attempts`` runs have started, the job fails instead (issue 5).
    """
    # Two tries are enough: losing the compare-and-set means another worker or a cancel moved
    # the row, and reading it again says which.
    for _ in range(2):
        async with sessions() as session, session.begin():
            row = await session.get(Generation, generation_id)
            if row is None:
                return Claim("gone")
            status, attempts, owner = row.status, row.attempts, row.worker_id
            if status in FINAL_STATUSES:
                return Claim("final", status, attempts, row.error)
            if (
                status == "running"
                and owner is not None
                and owner != worker_id
                and await is_alive(owner)
            ):
                return Claim("busy", status, attempts)
            current = [Generation.status == status, Generation.attempts == attempts]
            if attempts >= max_attempts:
                error = (
                    f"gave up after {attempts} attempts; the last one stopped without finishing"
                    + (f" (before that: {row.error})" if row.error else "")
                )[:2000]
                values = {"status": "failed", "error": error, "finished_at": utcnow()}
                if await _swap(session, generation_id, where=current, values=values):
                    return Claim("gave_up", "failed", attempts, error)
                continue
            values = {"status": "running", "worker_id": worker_id}
            if await _swap(session, generation_id, where=current, values=values):
                return Claim("claimed", "running", attempts)
    return Claim("busy")


async def retry_later(*, sessions: Sessions, generation_id: int) -> bool:
    """Put a failed job back in the queue; its last error stays on the row until it succeeds."""
    async with sessions() as session, session.begin():
        return await _swap(
            session,
            generation_id,
            where=[Generation.status == "failed"],
            values={"status": "queued"},
        )


async def release(*, sessions: Sessions, generation_id: int) -> bool:
    """Hand a job stopped by a shutdown back to the queue; the interrupted run does not count."""
    async with sessions() as session, session.begin():
        row = await session.get(Generation, generation_id)
        if row is None or row.status == "done":
            return False
        row.status = "queued"
        row.attempts = max(0, row.attempts - 1)
        row.error = None
        row.worker_id = None
        return True


async def cancel_queued(*, sessions: Sessions, generation_id: int) -> bool:
    """Cancel the job if it has not started; return whether it was cancelled now."""
    async with sessions() as session, session.begin():
        return await _swap(
            session,
            generation_id,
            where=[Generation.status == "queued"],
            values={"status": "cancelled", "finished_at": utcnow()},
        )


async def mark_cancelled(*, sessions: Sessions, generation_id: int) -> None:
    """Record that a running job stopped because it was cancelled."""
    async with sessions() as session, session.begin():
        await _swap(
            session,
            generation_id,
            where=[Generation.status != "done"],
            values={"status": "cancelled", "error": None, "finished_at": utcnow()},
        )


async def mark_failed(*, sessions: Sessions, generation_id: int, error: str) -> bool:
    """Fail a job that never started (e.g. the broker was down at submit); keep the reason."""
    async with sessions() as session, session.begin():
        return await _swap(
            session,
            generation_id,
            where=[Generation.status == "queued"],
            values={"status": "failed", "error": error[:2000], "finished_at": utcnow()},
        )


async def requeue(
    *, session: AsyncSession, generation_id: int, reset_attempts: bool = True
) -> Generation:
    """Queue a failed, cancelled or stuck job again (``pmg-admin jobs requeue``)."""
    row = await session.get(Generation, generation_id)
    if row is None:
        raise NotFoundError(f"no generation with id {generation_id} is stored")
    if row.status == "done":
        raise NothingToRequeue(f"job {generation_id} is done; there is nothing to requeue")
    row.status = "queued"
    row.worker_id = None
    row.started_at = None
    row.finished_at = None
    if reset_attempts:
        row.attempts = 0
        row.error = None
    await session.flush()
    return row


async def status_of(*, sessions: Sessions, generation_id: int) -> Generation:
    """Return the job's row (fresh from the database) or raise ``NotFoundError``."""
    async with sessions() as session:
        row = await session.get(Generation, generation_id)
    if row is None:
        raise NotFoundError(f"no generation with id {generation_id} is stored")
    return row


async def statuses(*, sessions: Sessions, generation_ids: Sequence[int]) -> dict[int, Generation]:
    """Return the rows of ``generation_ids`` that exist, by id."""
    if not generation_ids:
        return {}
    async with sessions() as session:
        rows = await session.scalars(
            select(Generation).where(Generation.id.in_(list(generation_ids)))
        )
        return {row.id: row for row in rows}


async def pending(*, sessions: Sessions) -> list[Generation]:
    """Return jobs left queued or running, oldest first (what a restart must pick up)."""
    async with sessions() as session:
        rows = await session.scalars(
            select(Generation)
            .where(Generation.status.in_(PENDING_STATUSES))
            .order_by(Generation.created_at, Generation.id)
        )
        return list(rows)


async def list_jobs(
    *,
    session: AsyncSession,
    stuck_after_s: float,
    statuses: Sequence[str] = ("failed", "queued", "running"),
    limit: int = 100,
) -> list[JobRow]:
    """Return failed or cancelled jobs, and queued / running ones older than ``stuck_after_s``."""
    cutoff = utcnow() - timedelta(seconds=stuck_after_s)
    conditions: list[ColumnElement[bool]] = []
    for status in statuses:
        if status == "queued":
            conditions.append(and_(Generation.status == "queued", Generation.created_at <= cutoff))
        elif status == "running":
            conditions.append(
                and_(
                    Generation.status == "running",
                    or_(Generation.started_at.is_(None), Generation.started_at <= cutoff),
                )
            )
        else:
            conditions.append(Generation.status == status)
    if not conditions:
        return []
    rows = await session.scalars(
        select(Generation)
        .where(or_(*conditions))
        .order_by(Generation.created_at.desc(), Generation.id.desc())
        .limit(limit)
    )
    return [
        JobRow(
            generation_id=row.id,
            status=row.status,
            attempts=row.attempts,
            worker_id=row.worker_id,
            user_id=row.user_id,
            kind=row.kind,
            created_at=row.created_at,
            started_at=row.started_at,
            finished_at=row.finished_at,
            error=row.error,
        )
        for row in rows
    ]


def final_event(row: Generation) -> JobEvent | None:
    """Return the final event a finished row stands for, or ``None`` while it is pending.

    The row's ``error`` is for admins (it may name files or hosts); users get one sentence.
    """
    if row.status == "done":
        return JobEvent(row.id, "done")
    if row.status == "failed":
        return JobEvent(row.id, "failed", error=FAILED_MESSAGE)
    if row.status == "cancelled":
        return JobEvent(row.id, "cancelled")
    return None
