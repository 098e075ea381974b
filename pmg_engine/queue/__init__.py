"""Job queues: the contract and its implementations (issue 5).

``create_queue`` picks the one the settings name; implementations are imported only when
chosen, so the bot does not pull in Celery unless it uses it.
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
