"""Job queues: the contract and its implementations (DESIGN.md section 4).

``create_queue`` picks the one the settings name; implementations are imported only when
chosen, so the bot does not pull in Celery unless it uses it. Job status lives in SQL and
changes only in ``jobs``.

What the Celery queue takes from Celery, and what it keeps beside it (``celery_app``), with
the reason Celery's own mechanism does not serve:

=================  =========================================================================
piece              decision
=================  =========================================================================
delivery, retry    Celery's: ``task_acks_late`` + ``reject_on_worker_lost``, ``task.retry``,
                   deterministic task ids, prefetch 1, solo pool.
results            Neither: the SQL row and the file are the result; a result backend would
                   be a second source of truth (``task_ignore_result``).
progress events    Own pub/sub channel: ``update_state`` needs a result backend and polling,
                   and Celery's event receiver is a blocking consumer for a thread, as lossy
                   as pub/sub; one channel read by the bot's asyncio client is less.
cancel keys        Own key: ``revoke`` is a remote-control broadcast (off here) that workers
                   keep in memory, and cannot stop a solo-pool task at its next step; a
                   queued job is cancelled on its row and dropped when claimed.
pending zset       Own: Celery has no queue position of a task, and after Redis lost its data
                   the set is how bots tell which recorded jobs must be sent again.
heartbeats         Own TTL keys: Celery's heartbeats are events one must have been listening
                   to (gossip off); bots and workers ask "is worker X alive?" on demand, and
                   the consumer-stall check beats from the consuming loop.
resend guards      Own: with the Redis transport a dead worker's message comes back only after
                   the visibility timeout (above the longest job, an hour); sending it again
                   at once needs a guard so that only one of the noticing processes does.
=================  =========================================================================

The fault tests in ``tests/queue`` (a worker SIGKILLed mid-job, a Redis restart, a stalled
consumer) hold these reasons to account.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pmg_engine.queue.base import (
    JobCancelled,
    JobEvent,
    JobFailed,
    JobHandle,
    JobQueue,
    QueueUnavailable,
)

if TYPE_CHECKING:
    from config import QueueSettings
    from pmg_engine.service import PMGService


def create_queue(settings: QueueSettings, service: PMGService) -> JobQueue:
    """Return the configured queue; nothing connects or starts until its ``start``."""
    if settings.backend == "celery":
        from pmg_engine.queue.celery_queue import CeleryQueue

        return CeleryQueue(service, settings=settings)
    from pmg_engine.queue.inprocess import InProcessQueue

    return InProcessQueue(service, settings=settings)


__all__ = [
    "JobCancelled",
    "JobEvent",
    "JobFailed",
    "JobHandle",
    "JobQueue",
    "QueueUnavailable",
    "create_queue",
]
