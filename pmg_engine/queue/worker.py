"""One Celery worker process: its models, DB engine, Redis client and heartbeat, built once.

``pmg worker`` (the composition root) creates a ``WorkerRuntime``, opens it (models load here,
before the worker takes its first message), and hands it to ``create_celery_app``; the Celery
task then only turns a generation id into ``run_job(id)``. Nothing happens at import time.

Liveness comes from the loop that consumes messages, never from a side thread (DESIGN.md
section 4): the worker's event loop beats between jobs, and the job's own loop beats while a
job runs. A side thread would keep a worker "alive" whose consumer had stopped taking messages
(an acknowledgement that failed while Redis was away leaves the Redis transport waiting on a
socket that is gone). The same tick therefore checks that the consumer still consumes: a worker
with nothing to do while its queue holds messages is stalled, reconnects, and exits (for its
supervisor to start it again) if reconnecting did not help; other workers then take its jobs.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import math
import os
import socket
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import redis
from redis.exceptions import RedisError

from pmg_engine.errors import PMGError
from pmg_engine.queue import jobs
from pmg_engine.queue.base import JobEvent
from pmg_engine.queue.celery_app import (
    RedisKeys,
    encode_event,
    member_ids,
    needs_resend,
    restore_to_front,
)
from pmg_engine.states import JobStatus

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from config import Settings
    from pmg_engine.queue._runner import JobRunner, Outcome, StopReason
    from pmg_engine.service import ServiceConfig

log = logging.getLogger(__name__)


class WorkerStartError(PMGError):
    """The worker cannot serve jobs (no generator, an old database); the message says why."""


Verdict = Literal["ok", "reconnect", "exit"]


@dataclass
class ConsumerWatch:
    """Tell a consumer that takes messages from one that stopped, from what its loop sees.

    An idle worker (no message received and not yet acknowledged) whose queue has held
    messages for ``stall_s`` is not consuming: a live consumer with a free slot takes a
    waiting message at once. The first stall asks for a reconnect; a stall that outlives
    ``max_reconnects`` reconnects asks the worker to exit.
    """

    stall_s: float
    max_reconnects: int = 1
    _waiting_since: float | None = field(default=None, init=False)
    _reconnects: int = field(default=0, init=False)

    def observe(self, *, idle: bool, waiting: int | None, now: float) -> Verdict:
        """Return what the worker does after one look at its slot and its queue."""
        if waiting is None:
            # Redis is unreachable: the consumer reconnects by itself; nothing to judge yet.
            return "ok"
        if not idle or waiting == 0:
            self._waiting_since = None
            if not idle:
                self._reconnects = 0
            return "ok"
        if self._waiting_since is None:
            self._waiting_since = now
            return "ok"
        if now - self._waiting_since < self.stall_s:
            return "ok"
        self._waiting_since = None
        if self._reconnects >= self.max_reconnects:
            return "exit"
        self._reconnects += 1
        return "reconnect"


def default_worker_id() -> str:
    """Return an id unique to this process: host, pid and a random part (pids are reused)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class WorkerRuntime:
    """What one worker process owns; ``open`` loads it, ``run_job`` serves one job id."""

    def __init__(
        self,
        settings: Settings,
        *,
        worker_id: str | None = None,
        config: ServiceConfig | None = None,
    ) -> None:
        self.settings = settings
        # The service's configuration; by default the one the settings describe.
        self._config = config
        self.keys = RedisKeys(settings.queue.namespace)
        self.worker_id = worker_id or default_worker_id()
        # Three missed beats and the worker counts as dead.
        self.liveness_ttl_s = max(1, math.ceil(3 * settings.queue.heartbeat_s))
        self._loop: asyncio.Runner | None = None
        self._engine: AsyncEngine | None = None
        self._runner: JobRunner | None = None
        self._redis: redis.Redis | None = None
        self._last_beat = 0.0
        # A stalled consumer is noticed within two beats of the stall window.
        self.watch = ConsumerWatch(stall_s=max(5.0, 2 * settings.queue.heartbeat_s))

    # -- lifecycle -------------------------------------------------------------------------------

    def open(self) -> list[str]:
        """Load the models and open the database; return notes about missing parts (blocking)."""
        from pmg_engine.db import migrate
        from pmg_engine.db.engine import create_engine, session_factory
        from pmg_engine.queue._runner import JobRunner
        from pmg_engine.runtime import build_models, service_config
        from pmg_engine.service import PMGService

        settings = self.settings
        loaded = build_models(settings)
        if loaded.models.generator is None:
            raise WorkerStartError(
                " ".join(loaded.notes) or "no image generator is available to this worker"
            )
        # One event loop for the life of the process: the async engine's connections belong
        # to it, so every job runs on it.
        self._loop = asyncio.Runner()
        self._engine = create_engine(settings.database_url, pool_size=2)
        current = self._loop.run(migrate.current_revision(self._engine))
        head = migrate.head_revision()
        if current != head:
            raise WorkerStartError(
                f"the database is at revision {current or 'none'}, the code needs {head}: "
                "run `pmg db upgrade`"
            )
        # A worker is the one process of a scale-out deployment that holds the implicit
        # embedder (bots load no generator), so it brings each profile up to date inline.
        config = self._config or dataclasses.replace(
            service_config(settings), profile_updates="inline"
        )
        service = PMGService(
            sessions=session_factory(self._engine), models=loaded.models, config=config
        )
        self._runner = JobRunner(
            service=service,
            max_attempts=settings.queue.max_attempts,
            job_timeout_s=settings.queue.job_timeout_s,
        )
        self._redis = redis.Redis.from_url(
            settings.queue.broker_url.get_secret_value(),
            socket_connect_timeout=3,
            socket_timeout=10,
        )
        return loaded.notes

    def start_serving(self) -> list[int]:
        """Beat once; return jobs of dead workers to send again (worker start hook)."""
        self._heartbeat()
        try:
            return self._orphans()
        except (RedisError, OSError) as exc:
            log.warning("could not look for jobs of dead workers: %s", exc)
            return []

    def stop_serving(self) -> None:
        """Say goodbye, so nobody waits for this worker's liveness to expire."""
        if self._redis is not None:
            try:
                self._redis.delete(self.keys.worker(self.worker_id))
            except RedisError as exc:
                log.warning("could not remove the liveness key: %s", exc)

    def close(self) -> None:
        """Close the database engine, the event loop and the Redis client."""
        if self._loop is not None:
            if self._engine is not None:
                self._loop.run(self._engine.dispose())
            self._loop.close()
            self._loop = None
        if self._redis is not None:
            self._redis.close()
            self._redis = None

    # -- jobs ------------------------------------------------------------------------------------

    def run_job(self, generation_id: int) -> Outcome:
        """Claim and run one job (blocking; called by the Celery task)."""
        if self._loop is None or self._runner is None:
            raise RuntimeError("the worker runtime is not open")
        return self._loop.run(self._run_beating(generation_id))

    async def _run_beating(self, generation_id: int) -> Outcome:
        # The job's loop beats while the job runs: if this thread hangs, the beats stop.
        assert self._runner is not None
        beat = asyncio.create_task(self._beat_while_running())
        try:
            return await self._runner.execute(
                generation_id,
                worker_id=self.worker_id,
                emit=self._emit,
                stop_requested=lambda: self._stop_requested(generation_id),
                is_alive=self._is_alive,
            )
        finally:
            beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beat

    async def _beat_while_running(self) -> None:
        while True:
            self._heartbeat()
            await asyncio.sleep(self.settings.queue.heartbeat_s)

    # -- liveness between jobs (called by the consuming loop's timer) ---------------------------

    def tick(self, *, idle: bool) -> Verdict:
        """Beat, and judge whether the consumer still takes messages (see ``ConsumerWatch``)."""
        self._heartbeat()
        return self.watch.observe(idle=idle, waiting=self._waiting(), now=time.monotonic())

    def _waiting(self) -> int | None:
        # Celery's queue is a Redis list named after the queue, under the namespace prefix.
        assert self._redis is not None
        try:
            return int(self._redis.llen(self.keys.celery_queue))
        except (RedisError, OSError):
            return None

    def _orphans(self) -> list[int]:
        # Jobs a dead worker left running: their messages come back only after the visibility
        # timeout, so send them again now (once per attempt, whoever notices first).
        assert self._loop is not None
        assert self._runner is not None
        assert self._redis is not None
        rows = self._loop.run(jobs.pending(sessions=self._runner.service.sessions))
        on_redis = member_ids(self._redis.zrange(self.keys.pending, 0, -1))
        ttl = math.ceil(self.settings.queue.visibility_timeout_s)
        resend = []
        for row in rows:
            if row.status != JobStatus.RUNNING or row.id not in on_redis:
                # Queued jobs still have their message; lost ones are for the bots to resend.
                continue
            owner = row.worker_id
            alive = owner is not None and bool(self._redis.exists(self.keys.worker(owner)))
            if needs_resend(row, on_redis=True, owner_alive=alive) and self._redis.set(
                self.keys.resent(row.id, row.attempts, owner), "1", nx=True, ex=ttl
            ):
                if restore_to_front(self._redis, self.keys, row.id):
                    log.info("generation %s goes first again: its worker stopped", row.id)
                else:
                    resend.append(row.id)
        return resend

    def _emit(self, event: JobEvent) -> None:
        # Called from the task and from the model thread. A lost event costs only latency:
        # submitters read the row when they miss one, so Redis trouble never fails a job.
        assert self._redis is not None
        try:
            if event.final:
                # Off the pending set first: a submitter that hears "done" reads new positions.
                self._redis.zrem(self.keys.pending, str(event.generation_id))
                self._redis.delete(self.keys.cancel(event.generation_id))
            self._redis.publish(self.keys.events, encode_event(event))
        except RedisError as exc:
            log.warning(
                "could not publish %s of generation %s: %s", event.kind, event.generation_id, exc
            )

    def _stop_requested(self, generation_id: int) -> StopReason | None:
        assert self._redis is not None
        try:
            return "cancel" if self._redis.exists(self.keys.cancel(generation_id)) else None
        except RedisError:
            return None

    async def _is_alive(self, worker_id: str) -> bool:
        # A blocking call on the worker's own loop, which serves nothing else meanwhile.
        assert self._redis is not None
        try:
            return bool(self._redis.exists(self.keys.worker(worker_id)))
        except RedisError:
            # Unsure is alive: taking over a live worker's job would run it twice.
            return True

    def _heartbeat(self) -> None:
        assert self._redis is not None
        try:
            self._redis.set(self.keys.worker(self.worker_id), "1", ex=self.liveness_ttl_s)
        except (RedisError, OSError) as exc:
            log.warning("heartbeat failed: %s", exc)


def serve(runtime: WorkerRuntime, *, hostname: str | None = None, loglevel: str = "info") -> int:
    """Take jobs with an open runtime until the worker is stopped; return its exit code.

    One job at a time (``--pool=solo``, concurrency 1): a GPU runs one batch well and two
    badly, and a crash takes down one job, not a pool of them.
    """
    from pmg_engine.queue.celery_app import create_celery_app

    queue = runtime.settings.queue
    app = create_celery_app(queue, runtime=runtime)
    celery_worker = app.Worker(
        hostname=hostname or f"pmg-{os.getpid()}@{socket.gethostname()}",
        pool="solo",
        concurrency=1,
        loglevel=loglevel.upper(),
        queues=[queue.namespace],
        # Nothing here uses Celery's broadcast features; skipping them starts faster.
        without_gossip=True,
        without_mingle=True,
        without_heartbeat=True,
    )
    celery_worker.start()
    return int(celery_worker.exitcode or 0)
