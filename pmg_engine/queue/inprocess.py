"""The embedded default queue: jobs run one at a time on a worker thread of this process.

How the work is split (DESIGN.md section 4): the bot's event loop keeps the queue (order,
positions, cancel) and only awaits futures. A dedicated worker thread runs each job's
``PMGService.run`` on its own event loop with its own DB engine, and that loop's default
executor is a single thread, so every model call of every job (keyword chain, embeddings,
diffusion, scoring) runs on that one "pmg-models" thread, in order, never on the bot's loop.
torch releases the GIL while it computes, so the bot stays responsive.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import logging
import os
import socket
import threading
from collections import deque
from collections.abc import Coroutine
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from config import QueueSettings
from pmg_engine.db.engine import create_engine, session_factory
from pmg_engine.queue import jobs
from pmg_engine.queue._client import QueueClient
from pmg_engine.queue._runner import JobRunner, Outcome, StopReason
from pmg_engine.queue.base import JobEvent, JobHandle
from pmg_engine.service import GenerationRequest, PMGService
from pmg_engine.states import JobStatus

log = logging.getLogger(__name__)

# How long ``cancel`` waits for a running job to reach its next step and stop.
CANCEL_WAIT_S = 10.0


def _engine_url(sessions: async_sessionmaker[AsyncSession]) -> str:
    bind = sessions.kw.get("bind")
    if not isinstance(bind, AsyncEngine):
        raise ValueError("the service's session factory must be bound to an AsyncEngine")
    url = bind.url
    if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
        raise ValueError(
            "an in-memory SQLite database cannot be shared with the worker thread; use a file"
        )
    return url.render_as_string(hide_password=False)


class _WorkerThread:
    """A thread with its own event loop and DB engine, whose executor is the model thread."""

    def __init__(self, *, service: PMGService, settings: QueueSettings) -> None:
        self._url = _engine_url(service.sessions)
        self._service = service
        self._settings = settings
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self.runner: JobRunner | None = None

    def start(self) -> None:
        """Start the thread and wait until its engine is open (blocking: call it in a thread)."""
        self._thread = threading.Thread(target=self._main, name="pmg-queue-worker", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            raise self._error

    def _main(self) -> None:
        loop = asyncio.new_event_loop()
        # One model thread: jobs never use the models concurrently, and always from one thread.
        loop.set_default_executor(
            concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="pmg-models")
        )
        asyncio.set_event_loop(loop)
        engine: AsyncEngine | None = None
        try:
            # The bot's engine belongs to the bot's loop; async drivers cannot share it.
            engine = create_engine(self._url)
            service = PMGService(
                sessions=session_factory(engine),
                models=self._service.models,
                config=self._service.config,
            )
            self.runner = JobRunner(
                service=service,
                max_attempts=self._settings.max_attempts,
                job_timeout_s=self._settings.job_timeout_s,
            )
            self._loop = loop
        except BaseException as exc:  # noqa: BLE001  # start() re-raises it in the caller
            self._error = exc
        self._ready.set()
        try:
            if self._error is None:
                loop.run_forever()
        finally:
            if engine is not None:
                loop.run_until_complete(engine.dispose())
            loop.run_until_complete(loop.shutdown_default_executor())
            loop.close()

    def run(self, coro: Coroutine[Any, Any, Outcome]) -> concurrent.futures.Future[Outcome]:
        """Run ``coro`` on the worker's loop."""
        if self._loop is None:
            coro.close()
            raise RuntimeError("the worker thread is not running")
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    def stop(self, timeout: float) -> None:
        """Stop the loop, close the engine and wait up to ``timeout`` s (blocking)."""
        if self._loop is not None and self._loop.is_running():
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("the queue's worker thread is still busy; leaving it behind")


class InProcessQueue(QueueClient):
    """The ``JobQueue`` of one process: a worker thread owns the models and runs jobs in order."""

    def __init__(
        self,
        service: PMGService,
        *,
        settings: QueueSettings | None = None,
        close_timeout_s: float = 30.0,
    ) -> None:
        super().__init__(service)
        self._settings = settings or QueueSettings()
        self._close_timeout_s = close_timeout_s
        self.worker_id = f"inprocess@{socket.gethostname()}:{os.getpid()}"
        self._waiting: deque[int] = deque()
        self._running: int | None = None
        self._delayed: dict[int, asyncio.TimerHandle] = {}
        # Read by the model thread at every step; a dict lookup needs no lock under the GIL.
        self._stop: dict[int, StopReason] = {}
        self._closing = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._worker: _WorkerThread | None = None
        self._dispatcher: asyncio.Task[None] | None = None

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the worker thread and the dispatcher (call once, from the bot's loop)."""
        if self._dispatcher is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._closing = False
        worker = _WorkerThread(service=self._service, settings=self._settings)
        await asyncio.to_thread(worker.start)
        self._worker = worker
        self._dispatcher = asyncio.create_task(self._dispatch(), name="pmg-inprocess-dispatcher")

    async def close(self) -> None:
        """Stop after the running job; queued rows stay queued for ``resume_pending``."""
        dispatcher, worker = self._dispatcher, self._worker
        if dispatcher is None or worker is None or self._wake is None:
            return
        self._closing = True
        for handle in self._delayed.values():
            handle.cancel()
        self._delayed.clear()
        self._waiting.clear()
        if self._running is not None:
            # Stop the running job at its next step: it goes back to the queue, not failed.
            self._stop[self._running] = "shutdown"
        self._wake.set()
        try:
            async with asyncio.timeout(self._close_timeout_s):
                await asyncio.shield(dispatcher)
        except TimeoutError:
            log.warning("the running job did not stop within %.0f s", self._close_timeout_s)
            dispatcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await dispatcher
        self._dispatcher = None
        self._worker = None
        await asyncio.to_thread(worker.stop, self._close_timeout_s)

    # -- the JobQueue contract ---------------------------------------------------------------------

    async def submit(self, request: GenerationRequest) -> JobHandle:
        """Record the request and queue it; a known ``job_key`` returns the existing job."""
        self._require_started()
        generation_id, created = await self._service.submit(request)
        if not created:
            row = await jobs.status_of(sessions=self._service.sessions, generation_id=generation_id)
            if row.status != JobStatus.QUEUED:
                return JobHandle(generation_id, False, self._position_now(generation_id) or 0)
        self._enqueue(generation_id)
        return JobHandle(generation_id, created, self._position_now(generation_id) or 0)

    async def cancel(self, generation_id: int) -> bool:
        """Cancel a queued job now, or stop a running one at its next step.

        Returns whether the job ends cancelled; a running job that has not reached a step
        within ``CANCEL_WAIT_S`` counts as cancelled, since it stops at the next one.
        """
        self._require_started()
        if generation_id == self._running:
            self._stop[generation_id] = "cancel"
            event = await self._wait_final(generation_id, CANCEL_WAIT_S)
            return event is None or event.kind == "cancelled"
        with contextlib.suppress(ValueError):
            self._waiting.remove(generation_id)
        handle = self._delayed.pop(generation_id, None)
        if handle is not None:
            handle.cancel()
        if await jobs.cancel_queued(sessions=self._service.sessions, generation_id=generation_id):
            self._hub.publish(JobEvent(generation_id, "cancelled"))
            self._announce_positions()
            return True
        return False

    async def resume_pending(self) -> list[int]:
        """Queue every job left queued or running by an earlier process, oldest first.

        Rows a dead local process left running are taken back first (``jobs.reclaim_stale``);
        a row whose owner still runs (another bot on this database) is left to it.
        """
        self._require_started()
        reclaimed = await jobs.reclaim_stale(sessions=self._service.sessions, own_id=self.worker_id)
        if reclaimed.requeued or reclaimed.failed:
            log.info(
                "took back jobs of a stopped process: %s queued again, %s failed",
                reclaimed.requeued,
                reclaimed.failed,
            )
        rows = await jobs.pending(sessions=self._service.sessions)
        for row in rows:
            self._enqueue(row.id)
        return [row.id for row in rows]

    # -- internals ---------------------------------------------------------------------------------

    def _require_started(self) -> None:
        if self._dispatcher is None:
            raise RuntimeError("the queue is not running: call start() first")

    async def _position(self, generation_id: int) -> int | None:
        return self._position_now(generation_id)

    def _position_now(self, generation_id: int) -> int | None:
        if generation_id == self._running:
            return 0
        try:
            index = self._waiting.index(generation_id)
        except ValueError:
            return None
        return index + (1 if self._running is not None else 0)

    def _enqueue(self, generation_id: int, *, after_backoff: bool = False) -> None:
        if after_backoff:
            self._delayed.pop(generation_id, None)
        elif generation_id in self._delayed:
            return
        if generation_id == self._running or generation_id in self._waiting or self._closing:
            return
        self._waiting.append(generation_id)
        assert self._wake is not None
        self._wake.set()
        position = self._position_now(generation_id)
        self._hub.publish(JobEvent(generation_id, "queued", position=position))

    def _announce_positions(self) -> None:
        for generation_id in self._waiting:
            event = JobEvent(generation_id, "queued", position=self._position_now(generation_id))
            if self._hub.latest(generation_id) != event:
                self._hub.publish(event)

    def _emit(self, event: JobEvent) -> None:
        # Called from the worker and model threads: hand the event to the bot's loop.
        assert self._loop is not None
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody listens any more
            self._loop.call_soon_threadsafe(self._hub.publish, event)

    async def _dispatch(self) -> None:
        assert self._wake is not None
        assert self._worker is not None
        assert self._loop is not None
        worker, wake = self._worker, self._wake
        while not self._closing:
            if not self._waiting:
                wake.clear()
                await wake.wait()
                continue
            generation_id = self._waiting.popleft()
            self._running = generation_id
            self._announce_positions()
            try:
                outcome = await asyncio.wrap_future(worker.run(self._execute(generation_id)))
            except Exception:
                # A failure outside the job itself (the database went away): the row keeps
                # its status, so a restart picks the job up again.
                log.exception("generation %s: the worker thread could not run it", generation_id)
                self._hub.publish(JobEvent(generation_id, "failed", error=jobs.FAILED_MESSAGE))
                continue
            finally:
                self._running = None
                self._stop.pop(generation_id, None)
            if outcome.kind == "retry":
                self._delayed[generation_id] = self._loop.call_later(
                    self._settings.retry_backoff_s,
                    functools.partial(self._enqueue, generation_id, after_backoff=True),
                )

    def _execute(self, generation_id: int) -> Coroutine[Any, Any, Outcome]:
        assert self._worker is not None
        assert self._worker.runner is not None
        return self._worker.runner.execute(
            generation_id,
            worker_id=self.worker_id,
            emit=self._emit,
            stop_requested=lambda: self._stop.get(generation_id),
            is_alive=self._owner_alive,
        )

    async def _owner_alive(self, worker_id: str) -> bool:
        # Only another running local process (another bot on this database, by its pid) keeps
        # its job; an earlier queue of this process, a dead pid or an owner that cannot be
        # checked count as gone: one process, one worker (DESIGN.md section 4).
        return worker_id != self.worker_id and jobs.local_owner_alive(worker_id) is True
