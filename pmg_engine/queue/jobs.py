"""Job rows: the one place a job's status changes, and the delivery outbox beside it.

The allowed moves are written once, in ``TRANSITIONS``; each function below is one of them,
a compare-and-set on the row (``move``), so two workers (or a worker and a cancel) can never
both win. Both queues, the service's embedded path and ``pmg-admin jobs`` go through here:

    queued  -> running (start)          -> done (finish) | failed (fail) | cancelled
    queued  -> cancelled (cancel_queued) | failed (fail_unsent, give up)
    running -> queued (retry, release, reclaim_stale) | running (a dead worker's row taken over)
    failed | cancelled | queued | running -> queued (requeue, ``pmg-admin jobs requeue``)

The outbox (DESIGN.md section 4): a job of the bot's is owed to its user until
``mark_delivered`` records a successful send of its end; ``owed`` lists what is still owed.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any, Literal

from sqlalchemy import ColumnElement, and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pmg_engine.db.models import Generation
from pmg_engine.db.types import utcnow
from pmg_engine.errors import NotFoundError, PMGError
from pmg_engine.queue.base import JobEvent
from pmg_engine.states import PENDING_STATUSES, JobStatus, Kind

QUEUED, RUNNING, DONE, FAILED, CANCELLED = (
    JobStatus.QUEUED,
    JobStatus.RUNNING,
    JobStatus.DONE,
    JobStatus.FAILED,
    JobStatus.CANCELLED,
)
# Which status may follow which. Self-moves are real compare-and-sets too: a running row of
# a dead worker is taken over by another, and an admin may requeue a stuck queued row.
TRANSITIONS: Mapping[JobStatus, frozenset[JobStatus]] = MappingProxyType(
    {
        QUEUED: frozenset({RUNNING, CANCELLED, FAILED, QUEUED}),
        RUNNING: frozenset({DONE, FAILED, CANCELLED, QUEUED, RUNNING}),
        DONE: frozenset(),
        FAILED: frozenset({QUEUED}),
        CANCELLED: frozenset({QUEUED}),
    }
)
# What the bot still has to deliver when it ends this way (a cancel is the user's own doing).
DELIVERED_STATUSES = frozenset({DONE, FAILED})
OWED_STATUSES = DELIVERED_STATUSES | PENDING_STATUSES
# The job keys of requests from Discord (``discord-{interaction id}``): the bot's own jobs.
DISCORD_KEY_PREFIX = "discord-"

INTERRUPTED_MESSAGE = "interrupted: the terminal chat that was drawing it stopped"
FAILED_MESSAGE = "the sticker could not be made; please try again"
CANCELLED_MESSAGE = "the job was cancelled"
MAX_ERROR_CHARS = 2000
MAX_NOTE_CHARS = 200

Sessions = async_sessionmaker[AsyncSession]
IsAlive = Callable[[str], Awaitable[bool]]
ClaimKind = Literal["claimed", "final", "busy", "gave_up", "gone"]


class NothingToRequeue(PMGError):
    """The job is done; requeueing it would draw it again."""


class IllegalTransition(ValueError):
    """A status change that ``TRANSITIONS`` does not allow (a bug in the caller)."""


@dataclass(frozen=True)
class Claim:
    """The outcome of trying to take a job: run it, or why not."""

    kind: ClaimKind
    status: JobStatus | None = None
    attempts: int = 0
    error: str | None = None


@dataclass(frozen=True)
class Finished:
    """What a successful run stores on its row beside the status (the service reports it)."""

    output_key: str
    target_keywords: list[str]
    preference_keywords: list[str]
    candidates: list[dict[str, Any]]
    selected_index: int
    model_id: str
    profile_id: int | None
    timings: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Owed:
    """A job of the bot's whose result has not reached its user yet (finished or pending)."""

    generation_id: int
    user_id: int
    status: JobStatus
    channel_id: int | None
    guild_id: int | None


@dataclass(frozen=True)
class JobRow:
    """One job as ``pmg-admin jobs`` lists it."""

    generation_id: int
    status: JobStatus
    attempts: int
    worker_id: str | None
    user_id: int
    kind: Kind
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


def allowed(source: JobStatus, target: JobStatus) -> bool:
    """Return whether a job may move from ``source`` to ``target``."""
    return target in TRANSITIONS[source]


def describe(exc: BaseException) -> str:
    """Return the admin-facing error of a failed run: the cause's type and message."""
    cause = exc.__cause__ if exc.__cause__ is not None else exc
    return f"{type(cause).__name__}: {cause}"[:MAX_ERROR_CHARS]


async def move(
    session: AsyncSession,
    generation_id: int,
    *,
    source: JobStatus | Collection[JobStatus],
    target: JobStatus,
    where: Sequence[ColumnElement[bool]] = (),
    values: Mapping[str, Any] | None = None,
) -> bool:
    """Move the row from ``source`` to ``target`` if it is still there; return whether it moved.

    Raises ``IllegalTransition`` for a move ``TRANSITIONS`` does not allow, before touching
    the row.
    """
    sources = {source} if isinstance(source, JobStatus) else set(source)
    refused = sorted(s for s in sources if not allowed(s, target))
    if not sources or refused:
        raise IllegalTransition(f"a job cannot go from {', '.join(refused) or '-'} to {target}")
    stmt = (
        update(Generation)
        .where(Generation.id == generation_id, Generation.status.in_(sorted(sources)), *where)
        .values(status=target, **(values or {}))
    )
    result = await session.execute(stmt.execution_options(synchronize_session=False))
    return bool(getattr(result, "rowcount", 0) == 1)


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
        rows = list(await session.scalars(select(Generation).where(Generation.status == RUNNING)))
        for row in rows:
            owner = row.worker_id
            if owner is not None and owner != own_id and local_owner_alive(owner) is not False:
                continue
            same_owner = [
                Generation.worker_id.is_(None) if owner is None else Generation.worker_id == owner
            ]
            if owner is not None and owner.startswith("inprocess@"):
                if await move(
                    session,
                    row.id,
                    source=RUNNING,
                    target=QUEUED,
                    where=same_owner,
                    values={"worker_id": None},
                ):
                    requeued.append(row.id)
                continue
            if await move(
                session,
                row.id,
                source=RUNNING,
                target=FAILED,
                where=same_owner,
                values={"error": INTERRUPTED_MESSAGE, "finished_at": utcnow()},
            ):
                failed.append(row.id)
    return Reclaimed(requeued=requeued, failed=failed)


async def never_alive(_worker_id: str) -> bool:
    """Treat every other worker as gone (one process, one worker: the in-process queue)."""
    return False


async def claim(
    *,
    sessions: Sessions,
    generation_id: int,
    worker_id: str | None,
    max_attempts: int | None,
    is_alive: IsAlive = never_alive,
) -> Claim:
    """Start the job for ``worker_id`` unless it is finished, owned by a live worker or used up.

    Starting counts an attempt and stamps ``started_at``. A row left ``running`` by a dead
    worker is taken over (that is the redelivery after a crash); once ``max_attempts`` runs
    have started, the job fails instead (``None``: no limit, for a caller that never retries).
    """
    # Two tries are enough: losing the compare-and-set means another worker or a cancel moved
    # the row, and reading it again says which.
    for _ in range(2):
        async with sessions() as session, session.begin():
            row = await session.get(Generation, generation_id)
            if row is None:
                return Claim("gone")
            status, attempts, owner = row.status, row.attempts, row.worker_id
            if status.final:
                return Claim("final", status, attempts, row.error)
            if (
                status == RUNNING
                and owner is not None
                and owner != worker_id
                and await is_alive(owner)
            ):
                return Claim("busy", status, attempts)
            current = [Generation.attempts == attempts]
            if max_attempts is not None and attempts >= max_attempts:
                error = (
                    f"gave up after {attempts} attempts; the last one stopped without finishing"
                    + (f" (before that: {row.error})" if row.error else "")
                )[:MAX_ERROR_CHARS]
                values: dict[str, Any] = {"error": error, "finished_at": utcnow()}
                if await move(
                    session,
                    generation_id,
                    source=status,
                    target=FAILED,
                    where=current,
                    values=values,
                ):
                    return Claim("gave_up", FAILED, attempts, error)
                continue
            values = {"worker_id": worker_id, "attempts": attempts + 1, "started_at": utcnow()}
            if await move(
                session, generation_id, source=status, target=RUNNING, where=current, values=values
            ):
                return Claim("claimed", RUNNING, attempts + 1)
    return Claim("busy")


async def finish(*, sessions: Sessions, generation_id: int, result: Finished) -> bool:
    """Record a successful run: the row is done and holds the result (running -> done)."""
    values = {
        "finished_at": utcnow(),
        "error": None,
        "output_key": result.output_key,
        "target_keywords": result.target_keywords,
        "preference_keywords": result.preference_keywords,
        "candidates": result.candidates,
        "selected_index": result.selected_index,
        "model_id": result.model_id,
        "profile_id": result.profile_id,
        "timings": {k: round(v, 4) for k, v in result.timings.items()},
    }
    async with sessions() as session, session.begin():
        return await move(session, generation_id, source=RUNNING, target=DONE, values=values)


async def fail(*, sessions: Sessions, generation_id: int, error: str) -> bool:
    """Record a run that ended without a result, keeping the reason (running -> failed)."""
    values = {"error": error[:MAX_ERROR_CHARS], "finished_at": utcnow()}
    async with sessions() as session, session.begin():
        return await move(session, generation_id, source=RUNNING, target=FAILED, values=values)


async def retry(*, sessions: Sessions, generation_id: int, error: str) -> bool:
    """Put a run that failed back in the queue; its error stays until a run succeeds.

    The row goes from running straight to queued, so nobody reading it in between sees a
    failure that is about to be retried.
    """
    values = {"error": error[:MAX_ERROR_CHARS], "worker_id": None}
    async with sessions() as session, session.begin():
        return await move(session, generation_id, source=RUNNING, target=QUEUED, values=values)


async def release(*, sessions: Sessions, generation_id: int) -> bool:
    """Hand a job stopped by a shutdown back to the queue; the interrupted run does not count."""
    async with sessions() as session, session.begin():
        row = await session.get(Generation, generation_id)
        if row is None:
            return False
        values = {"attempts": max(0, row.attempts - 1), "error": None, "worker_id": None}
        return await move(
            session,
            generation_id,
            source=RUNNING,
            target=QUEUED,
            where=[Generation.attempts == row.attempts],
            values=values,
        )


async def cancel_queued(*, sessions: Sessions, generation_id: int) -> bool:
    """Cancel the job if it has not started; return whether it was cancelled now."""
    async with sessions() as session, session.begin():
        return await move(
            session,
            generation_id,
            source=QUEUED,
            target=CANCELLED,
            values={"finished_at": utcnow()},
        )


async def cancel_running(*, sessions: Sessions, generation_id: int) -> bool:
    """Record that a running job stopped because it was cancelled (running -> cancelled)."""
    async with sessions() as session, session.begin():
        return await move(
            session,
            generation_id,
            source=RUNNING,
            target=CANCELLED,
            values={"error": None, "finished_at": utcnow()},
        )


async def fail_unsent(*, sessions: Sessions, generation_id: int, error: str) -> bool:
    """Fail a job that never started (e.g. the broker was down at submit); keep the reason."""
    async with sessions() as session, session.begin():
        return await move(
            session,
            generation_id,
            source=QUEUED,
            target=FAILED,
            values={"error": error[:MAX_ERROR_CHARS], "finished_at": utcnow()},
        )


async def requeue(
    *, session: AsyncSession, generation_id: int, reset_attempts: bool = True
) -> Generation:
    """Queue a failed, cancelled or stuck job again (``pmg-admin jobs requeue``)."""
    row = await session.get(Generation, generation_id)
    if row is None:
        raise NotFoundError(f"no generation with id {generation_id} is stored")
    if not allowed(row.status, QUEUED):
        raise NothingToRequeue(f"job {generation_id} is {row.status}; there is nothing to requeue")
    values: dict[str, Any] = {
        "worker_id": None,
        "started_at": None,
        "finished_at": None,
        # Queued again, it is owed to its user again when it ends.
        "delivered_at": None,
        "delivery_note": None,
    }
    if reset_attempts:
        values.update(attempts=0, error=None)
    if not await move(session, generation_id, source=row.status, target=QUEUED, values=values):
        raise NothingToRequeue(f"job {generation_id} changed meanwhile; look at it again")
    await session.refresh(row)
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
            .where(Generation.status.in_(sorted(PENDING_STATUSES)))
            .order_by(Generation.created_at, Generation.id)
        )
        return list(rows)


async def list_jobs(
    *,
    session: AsyncSession,
    stuck_after_s: float,
    statuses: Sequence[JobStatus | str] = (FAILED, QUEUED, RUNNING),
    limit: int = 100,
) -> list[JobRow]:
    """Return failed or cancelled jobs, and queued / running ones older than ``stuck_after_s``."""
    cutoff = utcnow() - timedelta(seconds=stuck_after_s)
    conditions: list[ColumnElement[bool]] = []
    for status in map(JobStatus, statuses):
        if status == QUEUED:
            conditions.append(and_(Generation.status == QUEUED, Generation.created_at <= cutoff))
        elif status == RUNNING:
            conditions.append(
                and_(
                    Generation.status == RUNNING,
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
    if row.status == DONE:
        return JobEvent(row.id, "done")
    if row.status == FAILED:
        return JobEvent(row.id, "failed", error=FAILED_MESSAGE)
    if row.status == CANCELLED:
        return JobEvent(row.id, "cancelled")
    return None


# -- the delivery outbox ---------------------------------------------------------------------------


async def owed(*, sessions: Sessions) -> list[Owed]:
    """Return the bot's jobs whose result has not reached their user, oldest first.

    Pending ones are owed when they end; a cancelled job is owed nothing.
    """
    async with sessions() as session:
        rows = await session.execute(
            select(
                Generation.id,
                Generation.user_id,
                Generation.status,
                Generation.channel_id,
                Generation.guild_id,
            )
            .where(
                Generation.delivered_at.is_(None),
                Generation.status.in_(sorted(OWED_STATUSES)),
                Generation.job_key.startswith(DISCORD_KEY_PREFIX, autoescape=True),
            )
            .order_by(Generation.created_at, Generation.id)
        )
        return [Owed(*row) for row in rows]


async def mark_delivered(*, sessions: Sessions, generation_id: int, note: str) -> bool:
    """Record that the finished job's result reached its user; return whether this call did.

    Only a finished (done or failed) row that was not delivered yet is marked: a pending one
    is still owed when it ends, and the first delivery's note is kept.
    """
    async with sessions() as session, session.begin():
        result = await session.execute(
            update(Generation)
            .where(
                Generation.id == generation_id,
                Generation.delivered_at.is_(None),
                Generation.status.in_(sorted(DELIVERED_STATUSES)),
            )
            .values(delivered_at=utcnow(), delivery_note=note[:MAX_NOTE_CHARS])
            .execution_options(synchronize_session=False)
        )
        return bool(getattr(result, "rowcount", 0) == 1)


async def note_delivery(*, sessions: Sessions, generation_id: int, note: str) -> None:
    """Record why a delivery attempt did not go as planned (the row stays owed)."""
    async with sessions() as session, session.begin():
        await session.execute(
            update(Generation)
            .where(Generation.id == generation_id, Generation.delivered_at.is_(None))
            .values(delivery_note=note[:MAX_NOTE_CHARS])
            .execution_options(synchronize_session=False)
        )
