"""Celery on Redis: the app and its settings, the Redis keys beside it, and enqueueing.

The message carries only the generation id; the row in SQL is the source of truth (DESIGN.md
section 4). Beside Celery's own keys, one Redis namespace holds:

- ``{ns}:jobs:pending``: a sorted set of unfinished job ids by submit time, for queue
  positions and to tell, after Redis lost its data, which jobs must be sent again;
- ``{ns}:jobs:events``: the pub/sub channel where workers publish every job event;
- ``{ns}:jobs:cancel:{id}``: set to stop a running job at its next step;
- ``{ns}:jobs:resent:{id}:{attempts}:{owner}``: whoever sends a lost job again first sets it, so
  several bots and workers noticing the same dead worker send one message, not one each;
- ``{ns}:workers:{worker id}``: a worker's liveness key, refreshed by its consuming loop.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, get_args

import redis
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, WatchError

from pmg_engine.queue.base import EventKind, JobEvent, QueueUnavailable
from pmg_engine.states import JobStatus

if TYPE_CHECKING:
    from celery import Celery

    from config import QueueSettings
    from pmg_engine.db.models import Generation
    from pmg_engine.queue.worker import WorkerRuntime

log = logging.getLogger(__name__)

TASK_NAME = "pmg.generate"
# Unexpected failures around a job (the database is down) are retried this often, 10 s apart.
INFRA_RETRIES = 60
INFRA_RETRY_S = 10.0


# The exit status of a worker whose consumer stalled for good (EX_TEMPFAIL: start it again).
STALLED_EXIT_CODE = 75


class ConsumerStalled(RedisConnectionError):
    """The consumer takes no messages though its queue holds some: reconnect it."""


def task_id_for(generation_id: int) -> str:
    """Return the Celery task id of a job: derived from its row, so a resend is the same job."""
    return f"pmg-generation-{generation_id}"


@dataclass(frozen=True)
class RedisKeys:
    """The Redis keys of one namespace (see the module docstring)."""

    namespace: str

    @property
    def events(self) -> str:
        """The pub/sub channel of job events."""
        return f"{self.namespace}:jobs:events"

    @property
    def pending(self) -> str:
        """The sorted set of jobs waiting, by submit order."""
        return f"{self.namespace}:jobs:pending"

    @property
    def celery_prefix(self) -> str:
        """The prefix of Celery's own keys in the namespace."""
        return f"{self.namespace}:celery:"

    @property
    def unacked(self) -> str:
        """Celery's hash of delivered, unacknowledged messages (the Redis transport's)."""
        return f"{self.celery_prefix}unacked"

    @property
    def unacked_index(self) -> str:
        """Celery's index of unacknowledged messages by delivery time."""
        return f"{self.celery_prefix}unacked_index"

    @property
    def celery_queue(self) -> str:
        """The Redis list of the messages waiting in the namespace's Celery queue."""
        return f"{self.celery_prefix}{self.namespace}"

    def cancel(self, generation_id: int) -> str:
        """The key that asks the worker running a job to stop it."""
        return f"{self.namespace}:jobs:cancel:{generation_id}"

    def worker(self, worker_id: str) -> str:
        """The liveness key of one worker."""
        return f"{self.namespace}:workers:{worker_id}"

    def resent(self, generation_id: int, attempts: int, owner: str | None) -> str:
        """The guard that a job was re-sent once for this attempt and owner."""
        return f"{self.namespace}:jobs:resent:{generation_id}:{attempts}:{owner or '-'}"


def broker_location(url: str) -> str:
    """Return ``host:port`` of a Redis URL, for messages (never the password)."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.hostname or '?'}:{parts.port or 6379}"


def encode_event(event: JobEvent) -> str:
    """Serialise an event for the events channel."""
    return json.dumps(dataclasses.asdict(event), separators=(",", ":"))


def decode_event(data: bytes | str) -> JobEvent | None:
    """Parse an event from the channel; ``None`` (and a log line) for anything malformed."""
    try:
        raw = json.loads(data)
        if not isinstance(raw, dict) or raw.get("kind") not in get_args(EventKind):
            raise ValueError(f"not a job event: {raw!r}")
        return JobEvent(**raw)
    except (TypeError, ValueError) as exc:
        log.warning("ignoring a malformed job event: %s", exc)
        return None


def member_ids(members: object) -> set[int]:
    """Return the job ids of a pending-set reply (Redis answers bytes)."""
    if not isinstance(members, list):
        raise TypeError(f"expected a list of members from Redis, got {members!r}")
    return {int(m.decode() if isinstance(m, bytes) else str(m)) for m in members}


def redelivered_payload(raw: bytes | str, task_id: str) -> dict[str, Any] | None:
    """Return the message of an unacknowledged entry if it is ``task_id``'s, marked redelivered.

    An entry is ``[message, exchange, routing_key]`` as the Redis transport stores it.
    """
    try:
        message = json.loads(raw)[0]
        if message["headers"]["id"] != task_id:
            return None
        message["headers"]["redelivered"] = True
        message["properties"]["delivery_info"]["redelivered"] = True
    except (ValueError, TypeError, KeyError, IndexError):
        return None
    return message if isinstance(message, dict) else None


def restore_to_front(client: redis.Redis, keys: RedisKeys, generation_id: int) -> bool:
    """Put a dead worker's unacknowledged message back at the front of the queue.

    The Redis transport gives such a message back only after the visibility timeout; sending
    the job anew would put it behind every job submitted since. Moved from the unacknowledged
    hash to the end the workers pop from, it runs next: a retry keeps its place. Returns
    False when the message is not held there (then the caller sends the job again).
    """
    task_id = task_id_for(generation_id)
    with client.pipeline() as pipe:
        for _ in range(5):
            try:
                pipe.watch(keys.unacked)  # type: ignore[no-untyped-call]  # untyped in redis-py
                entries = pipe.hgetall(keys.unacked)
                found = next(
                    (
                        (tag, message)
                        for tag, raw in entries.items()
                        if (message := redelivered_payload(raw, task_id)) is not None
                    ),
                    None,
                )
                if found is None:
                    pipe.unwatch()
                    return False
                tag, message = found
                pipe.multi()
                # Workers pop with BRPOP, from the right: a right push is the front.
                pipe.rpush(keys.celery_queue, json.dumps(message))
                pipe.hdel(keys.unacked, tag)
                pipe.zrem(keys.unacked_index, tag)
                pipe.execute()
                return True
            except WatchError:
                continue
    return False


def needs_resend(row: Generation, *, on_redis: bool, owner_alive: bool) -> bool:
    """Whether a pending job's message must be sent again.

    Not on Redis: Redis lost its data (or never got the job), so the message is gone. Running
    on a dead worker: the message comes back only after the visibility timeout, which is set
    above the longest job (an hour by default); a resend is taken at once, and the claim on the
    row makes sure only one of the two copies runs.
    """
    if not on_redis:
        return True
    return row.status == JobStatus.RUNNING and row.worker_id is not None and not owner_alive


def create_celery_app(settings: QueueSettings, *, runtime: WorkerRuntime | None = None) -> Celery:
    """Build the Celery app; with ``runtime`` (a worker) also its task and lifecycle step."""
    from celery import Celery

    keys = RedisKeys(settings.namespace)
    app = Celery(f"pmg-{settings.namespace}", set_as_current=False)
    app.conf.update(
        broker_url=settings.broker_url.get_secret_value(),
        broker_transport_options={
            # Above the longest job, or a running job is handed to a second worker.
            "visibility_timeout": settings.visibility_timeout_s,
            # Every Celery key under the namespace: deployments and test runs can share Redis.
            "global_keyprefix": keys.celery_prefix,
            # Look for abandoned messages every 10 s (kombu's default is every 100 s).
            "unacked_restore_interval": 10,
            "unacked_restore_throttle": 1,
            "socket_connect_timeout": 3,
            "socket_timeout": 30,
        },
        broker_connection_timeout=3,
        broker_connection_retry_on_startup=True,
        # Submit fails fast when Redis is down: the bot tells the user instead of hanging.
        task_publish_retry=True,
        task_publish_retry_policy={
            "max_retries": 2,
            "interval_start": 0.2,
            "interval_step": 0.5,
            "interval_max": 1.0,
        },
        task_default_queue=settings.namespace,
        task_serializer="json",
        accept_content=["json"],
        # Results live in SQL and files, never in Celery.
        task_ignore_result=True,
        # Acknowledge after the job, and give it back if the worker dies: a killed worker's
        # job is delivered again.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        worker_concurrency=1,
        worker_pool="solo",
        worker_enable_remote_control=False,
        worker_send_task_events=False,
    )
    if runtime is not None:
        _register_worker(app, runtime, settings)
    return app


def _register_worker(app: Celery, runtime: WorkerRuntime, settings: QueueSettings) -> None:
    from celery import bootsteps

    @app.task(  # type: ignore[untyped-decorator]  # celery ships no type hints
        name=TASK_NAME,
        bind=True,
        acks_late=True,
        reject_on_worker_lost=True,
        ignore_result=True,
        max_retries=None,
    )
    def generate(task: Any, generation_id: int) -> None:
        """Run one generation job by its id."""
        try:
            outcome = runtime.run_job(int(generation_id))
        except Exception as exc:
            # Not the job's fault (the database or Redis is away): try again later, keeping
            # the message, so the job is not lost with the failed delivery.
            if task.request.retries >= INFRA_RETRIES:
                log.exception("generation %s: giving up on its message", generation_id)
                raise
            log.exception("generation %s could not be run; retrying", generation_id)
            raise task.retry(exc=exc, countdown=INFRA_RETRY_S) from exc
        if outcome.kind == "retry":
            raise task.retry(countdown=settings.retry_backoff_s)
        if outcome.kind == "busy":
            # A live worker runs it (a duplicate message): look again once it could have died.
            raise task.retry(countdown=runtime.liveness_ttl_s)

    class Lifecycle(bootsteps.StartStopStep):  # type: ignore[misc]  # celery is untyped
        """Beat from the consuming loop and recover dead workers' jobs while the worker runs."""

        def start(self, worker: Any) -> None:
            # The worker's timer is its event loop's: it fires only while that loop consumes.
            self.tref = worker.timer.call_repeatedly(settings.heartbeat_s, self.tick)
            for generation_id in runtime.start_serving():
                log.info("sending generation %s again: its worker stopped", generation_id)
                app.send_task(
                    TASK_NAME,
                    args=[generation_id],
                    task_id=task_id_for(generation_id),
                    queue=settings.namespace,
                )

        def tick(self) -> None:
            from celery.worker import state

            verdict = runtime.tick(idle=not state.reserved_requests)
            if verdict == "reconnect":
                log.error("the worker stopped taking jobs while its queue holds some; reconnecting")
                # A connection error raised in the loop restarts Celery's consumer.
                raise ConsumerStalled("the consumer stopped taking messages")
            if verdict == "exit":
                log.critical(
                    "the worker still takes no jobs after reconnecting; exiting so that its "
                    "supervisor starts it again"
                )
                runtime.stop_serving()
                state.should_stop = STALLED_EXIT_CODE

        def stop(self, worker: Any) -> None:
            tref = getattr(self, "tref", None)
            if tref is not None:
                tref.cancel()
            runtime.stop_serving()

    app.steps["worker"].add(Lifecycle)


class CeleryBroker:
    """The submitter's side of Redis: send job ids, read positions, watch workers."""

    def __init__(self, settings: QueueSettings) -> None:
        url = settings.broker_url.get_secret_value()
        self.settings = settings
        self.keys = RedisKeys(settings.namespace)
        self.location = broker_location(url)
        self.app = create_celery_app(settings)
        self.redis: aioredis.Redis = aioredis.Redis.from_url(
            url, socket_connect_timeout=3, socket_timeout=10, health_check_interval=30
        )

    def unavailable(self, exc: BaseException) -> QueueUnavailable:
        """Return the error that tells a user the queue is down, in one sentence."""
        # Where Redis lives is for the operator's log, not for the user's screen.
        log.warning("Redis at %s is unreachable: %s", self.location, exc)
        return QueueUnavailable(
            "the job queue cannot be reached right now; please try again in a minute"
        )

    async def enqueue(self, generation_id: int) -> int:
        """Send the job to the workers; return its position. Raise ``QueueUnavailable``."""
        from kombu.exceptions import OperationalError

        member = str(generation_id)
        try:
            await self.redis.zadd(self.keys.pending, {member: time.time()}, nx=True)
            try:
                await asyncio.to_thread(self.send, generation_id)
            except BaseException:
                await self.redis.zrem(self.keys.pending, member)
                raise
            rank = await self.redis.zrank(self.keys.pending, member)
        except (RedisError, OSError, OperationalError) as exc:
            raise self.unavailable(exc) from exc
        return rank if isinstance(rank, int) else 0

    def send(self, generation_id: int) -> None:
        """Publish the job's message (blocking; call it in a thread)."""
        self.app.send_task(
            TASK_NAME,
            args=[generation_id],
            task_id=task_id_for(generation_id),
            queue=self.settings.namespace,
        )

    async def resend(self, generation_id: int) -> None:
        """Publish the job's message again, keeping its place in the pending set."""
        from kombu.exceptions import OperationalError

        try:
            await asyncio.to_thread(self.send, generation_id)
        except (OSError, OperationalError) as exc:
            raise self.unavailable(exc) from exc

    async def resend_once(self, row: Generation, *, on_redis: bool) -> bool:
        """Send a lost job again unless someone already did for this attempt; return whether."""
        guard = self.keys.resent(row.id, row.attempts, row.worker_id)
        ttl = math.ceil(self.settings.visibility_timeout_s)
        if not await self.redis.set(guard, "1", nx=True, ex=ttl):
            return False
        log.info(
            "sending generation %s again: %s",
            row.id,
            "its worker stopped" if on_redis else "Redis no longer holds it",
        )
        if on_redis:
            if not await asyncio.to_thread(self._restore_to_front, row.id):
                await self.resend(row.id)
        else:
            await self.enqueue(row.id)
        return True

    def _restore_to_front(self, generation_id: int) -> bool:
        client = redis.Redis.from_url(
            self.settings.broker_url.get_secret_value(), socket_connect_timeout=3, socket_timeout=10
        )
        try:
            return restore_to_front(client, self.keys, generation_id)
        except (RedisError, OSError) as exc:
            raise self.unavailable(exc) from exc
        finally:
            client.close()

    async def position(self, generation_id: int) -> int | None:
        """Return how many unfinished jobs were submitted before this one (``None``: none)."""
        rank = await self.redis.zrank(self.keys.pending, str(generation_id))
        return rank if isinstance(rank, int) else None

    async def pending_ids(self) -> set[int]:
        """Return the ids Redis holds as unfinished."""
        return member_ids(await self.redis.zrange(self.keys.pending, 0, -1))

    async def alive(self, worker_id: str) -> bool:
        """Whether the worker's heartbeat is current."""
        return bool(await self.redis.exists(self.keys.worker(worker_id)))

    async def close(self) -> None:
        """Close the Redis client and Celery's connection pools."""
        await self.redis.aclose()
        await asyncio.to_thread(self.app.close)
