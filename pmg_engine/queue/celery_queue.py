"""The scale-out queue: jobs go to Celery GPU workers through Redis (DESIGN.md section 4).

The bot side records the row, sends the id, and listens on one Redis pub/sub channel for every
job's events. Pub/sub drops messages while disconnected, so the channel is only the fast path:
the rows of the jobs somebody waits on are read again after each (re)connect and every few
seconds, and a finished row always wins.

Redis unreachable at submit: the new row is marked failed with the reason, and
``QueueUnavailable`` tells the user in one sentence. Failing rather than keeping it queued is
deliberate: the user was told it failed, so it must not quietly run later (an admin can
``pmg-admin jobs requeue`` it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

from redis.exceptions import RedisError

from config import QueueSettings
from pmg_engine.queue import jobs
from pmg_engine.queue._client import QueueClient
from pmg_engine.queue.base import JobEvent, JobHandle, QueueUnavailable
from pmg_engine.queue.celery_app import CeleryBroker, decode_event, encode_event, needs_resend
from pmg_engine.service import GenerationRequest, PMGService
from pmg_engine.states import JobStatus

if TYPE_CHECKING:
    from pmg_engine.db.models import Generation

log = logging.getLogger(__name__)

CANCEL_WAIT_S = 10.0
# How long ``start`` waits for the events channel before going on without it.
SUBSCRIBE_WAIT_S = 3.0


class CeleryQueue(QueueClient):
    """The ``JobQueue`` of a bot whose jobs run on Celery workers (``pmg worker``)."""

    def __init__(
        self, service: PMGService, *, settings: QueueSettings, reconcile_s: float = 5.0
    ) -> None:
        super().__init__(service)
        self._settings = settings
        self._reconcile_s = reconcile_s
        self._broker: CeleryBroker | None = None
        self._listener: asyncio.Task[None] | None = None
        # Set after the first attempt to subscribe, whether it worked or not.
        self._first_attempt: asyncio.Event | None = None

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect to Redis and listen for job events; a Redis that is down is retried."""
        if self._listener is not None:
            return
        self._broker = CeleryBroker(self._settings)
        self._first_attempt = asyncio.Event()
        self._listener = asyncio.create_task(self._listen(), name="pmg-celery-events")
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(SUBSCRIBE_WAIT_S):
                await self._first_attempt.wait()

    async def close(self) -> None:
        """Stop listening; jobs keep running on the workers and stay recorded."""
        listener, broker = self._listener, self._broker
        self._listener = self._broker = None
        if listener is not None:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener
        if broker is not None:
            await broker.close()

    # -- the JobQueue contract ---------------------------------------------------------------------

    async def submit(self, request: GenerationRequest) -> JobHandle:
        """Record the request and send it to the workers; the same ``job_key`` runs once."""
        broker = self._require_started()
        generation_id, created = await self._service.submit(request)
        if not created:
            row = await jobs.status_of(sessions=self._service.sessions, generation_id=generation_id)
            if row.status.final:
                return JobHandle(generation_id, False, 0)
            try:
                position = await broker.position(generation_id)
            except (RedisError, OSError) as exc:
                raise broker.unavailable(exc) from exc
            if position is not None or row.status == JobStatus.RUNNING:
                return JobHandle(generation_id, False, position or 0)
            # Recorded but unknown to Redis (Redis lost its data): send it now.
        try:
            position = await broker.enqueue(generation_id)
        except QueueUnavailable as exc:
            if created:
                await jobs.fail_unsent(
                    sessions=self._service.sessions,
                    generation_id=generation_id,
                    error=f"QueueUnavailable: {exc}",
                )
                self._hub.publish(JobEvent(generation_id, "failed", error=str(exc)))
            raise
        self._hub.publish(JobEvent(generation_id, "queued", position=position))
        return JobHandle(generation_id, created, position)

    async def cancel(self, generation_id: int) -> bool:
        """Cancel a queued job now, or ask its worker to stop it at the next step.

        Returns whether the job ends cancelled; a running job that has not reached a step
        within ``CANCEL_WAIT_S`` counts as cancelled, since it stops at the next one.
        """
        broker = self._require_started()
        sessions = self._service.sessions
        if await jobs.cancel_queued(sessions=sessions, generation_id=generation_id):
            event = JobEvent(generation_id, "cancelled")
            self._hub.publish(event)
            # The worker that gets the message sees the row and drops it; this only tells
            # other bots and frees the queue position at once.
            with contextlib.suppress(RedisError, OSError):
                await broker.redis.zrem(broker.keys.pending, str(generation_id))
                await broker.redis.publish(broker.keys.events, encode_event(event))
            return True
        row = await jobs.status_of(sessions=sessions, generation_id=generation_id)
        if row.status != JobStatus.RUNNING:
            return False
        try:
            await broker.redis.set(
                broker.keys.cancel(generation_id),
                "1",
                ex=math.ceil(self._settings.visibility_timeout_s),
            )
        except (RedisError, OSError) as exc:
            raise broker.unavailable(exc) from exc
        final = await self._wait_final(generation_id, CANCEL_WAIT_S)
        return final is None or final.kind == "cancelled"

    async def resume_pending(self) -> list[int]:
        """Watch every job left queued or running; send again those whose message is lost."""
        broker = self._require_started()
        rows = await jobs.pending(sessions=self._service.sessions)
        try:
            await self._recover(broker, rows)
        except (RedisError, OSError) as exc:
            raise broker.unavailable(exc) from exc
        return [row.id for row in rows]

    # -- internals ---------------------------------------------------------------------------------

    def _require_started(self) -> CeleryBroker:
        if self._broker is None:
            raise RuntimeError("the queue is not running: call start() first")
        return self._broker

    async def _position(self, generation_id: int) -> int | None:
        broker = self._require_started()
        try:
            return await broker.position(generation_id)
        except (RedisError, OSError):
            return None

    async def _listen(self) -> None:
        broker = self._require_started()
        assert self._first_attempt is not None
        first_attempt = self._first_attempt
        loop = asyncio.get_running_loop()
        delay = 0.5
        while True:
            try:
                async with broker.redis.pubsub(ignore_subscribe_messages=True) as pubsub:
                    await pubsub.subscribe(broker.keys.events)
                    first_attempt.set()
                    delay = 0.5
                    # Catch up on what happened while nobody listened.
                    await self._reconcile(broker)
                    due = loop.time() + self._reconcile_s
                    while True:
                        message = await pubsub.get_message(timeout=max(0.01, due - loop.time()))
                        if message is not None and message.get("type") == "message":
                            await self._on_event(broker, message["data"])
                        if loop.time() >= due:
                            await self._reconcile(broker)
                            due = loop.time() + self._reconcile_s
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                log.warning("job events: Redis unreachable (%s); retrying in %.1f s", exc, delay)
            except Exception:
                log.exception("job events: listener failed; restarting in %.1f s", delay)
            first_attempt.set()
            # Without Redis the rows still say which jobs ended: waiters need not wait for it.
            try:
                await self._reconcile_rows()
            except Exception:
                log.exception("job events: could not read the job rows")
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)

    async def _on_event(self, broker: CeleryBroker, data: bytes | str) -> None:
        event = decode_event(data)
        if event is None:
            return
        self._hub.publish(event)
        if event.kind != "progress":
            # A job started or ended: everyone behind it moved up.
            await self._refresh_positions(broker)

    async def _refresh_positions(self, broker: CeleryBroker) -> None:
        for generation_id in self._hub.watched():
            latest = self._hub.latest(generation_id)
            if latest is None or latest.kind != "queued":
                continue
            position = await broker.position(generation_id)
            if position is not None and position != latest.position:
                self._hub.publish(JobEvent(generation_id, "queued", position=position))

    async def _reconcile(self, broker: CeleryBroker) -> None:
        pending = await self._reconcile_rows()
        # A job somebody waits on must not wait for the visibility timeout (an hour) when its
        # worker died, nor forever when Redis lost it.
        await self._recover(broker, pending)
        await self._refresh_positions(broker)

    async def _reconcile_rows(self) -> list[Generation]:
        """Publish the end of every awaited job whose row finished; return those still pending."""
        waiting = []
        for generation_id in self._hub.watched():
            latest = self._hub.latest(generation_id)
            if latest is None or not latest.final:
                waiting.append(generation_id)
        rows = await jobs.statuses(sessions=self._service.sessions, generation_ids=waiting)
        pending = []
        for generation_id, row in rows.items():
            final = jobs.final_event(row)
            latest = self._hub.latest(generation_id)
            if final is not None:
                self._hub.publish(final)
                continue
            pending.append(row)
            if row.status == JobStatus.RUNNING and (latest is None or latest.kind == "queued"):
                self._hub.publish(JobEvent(generation_id, "started"))
        return pending

    async def _recover(self, broker: CeleryBroker, rows: Sequence[Generation]) -> None:
        if not rows:
            return
        on_redis = await broker.pending_ids()
        for row in rows:
            owner = row.worker_id
            alive = owner is not None and await broker.alive(owner)
            if needs_resend(row, on_redis=row.id in on_redis, owner_alive=alive):
                await broker.resend_once(row, on_redis=row.id in on_redis)
